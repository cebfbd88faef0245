#if defined(ARDUINO)

#include "tflm_inference.h"

// The TFLM Arduino library's main header (lets the Arduino IDE / arduino-cli
// find the library); TINYMLOPS_TFLM_HEADER overrides it.
#if defined(TINYMLOPS_TFLM_HEADER)
#include TINYMLOPS_TFLM_HEADER
#elif __has_include(<Chirale_TensorFlowLite.h>)
#include <Chirale_TensorFlowLite.h>
#elif __has_include(<TensorFlowLite.h>)
#include <TensorFlowLite.h>
#endif

#include <cmath>
#include <cstring>

#include "model_data.h"      // generated
#include "model_ops.h"       // generated: ModelOpResolver, RegisterOps
#include "model_settings.h"  // generated
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace tinymlops {

namespace {

namespace ms = model_settings;

alignas(16) uint8_t g_tensor_arena[ms::kTensorArenaSize];

bool Int8Tensor(const TfLiteTensor* tensor, size_t bytes) {
  return tensor != nullptr && tensor->type == kTfLiteInt8 && tensor->bytes == bytes;
}

bool SameQuantization(const TfLiteTensor* tensor, float scale, int zero_point) {
  return std::fabs(tensor->params.scale - scale) <= 1e-6f * std::fabs(scale) &&
         tensor->params.zero_point == zero_point;
}

}  // namespace

const char* TflmInference::Begin() {
  // Not tflite::InitializeTarget(): in the Arduino TFLM libraries it restarts
  // Serial at 9600 baud, and main() has set the port up already.
  const tflite::Model* model = tflite::GetModel(g_model);
#if defined(TFLITE_SCHEMA_VERSION)
  if (model->version() != TFLITE_SCHEMA_VERSION) return "model schema version is not the TFLM library's";
#endif
  static ModelOpResolver resolver;
  if (RegisterOps(resolver) != kTfLiteOk) return "registering the model's operators failed";
  static tflite::MicroInterpreter interpreter(model, resolver, g_tensor_arena, sizeof(g_tensor_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return "AllocateTensors failed: kTensorArenaSize is too small on this target";
  }
  if (interpreter.inputs_size() != static_cast<size_t>(ms::kInputCount)) {
    return "the model's input count is not model_settings.h's";
  }
  for (int i = 0; i < ms::kInputCount; ++i) {
    const ms::InputSpec& spec = ms::kInputs[i];
    const TfLiteTensor* input = interpreter.input(static_cast<size_t>(spec.tensor_index));
    if (!Int8Tensor(input, static_cast<size_t>(ms::kWindowLength * spec.channel_count))) {
      return "an input tensor is not int8 [1, T, 1, c] as model_settings.h says";
    }
    if (!SameQuantization(input, spec.scale, spec.zero_point)) {
      return "an input tensor's quantization is not model_settings.h's";
    }
  }
  const TfLiteTensor* output = interpreter.output(0);
  if (!Int8Tensor(output, static_cast<size_t>(ms::kClassCount))) return "the output is not int8 [1, K]";
  if (!SameQuantization(output, ms::kOutputScale, ms::kOutputZeroPoint)) {
    return "the output quantization is not model_settings.h's";
  }
  interpreter_ = &interpreter;
  return nullptr;
}

bool TflmInference::SetInput(int tensor_index, const int8_t* data, int count) {
  if (interpreter_ == nullptr || tensor_index < 0) return false;
  TfLiteTensor* input = interpreter_->input(static_cast<size_t>(tensor_index));
  if (!Int8Tensor(input, static_cast<size_t>(count))) return false;
  std::memcpy(input->data.int8, data, static_cast<size_t>(count));
  return true;
}

bool TflmInference::Invoke() { return interpreter_ != nullptr && interpreter_->Invoke() == kTfLiteOk; }

bool TflmInference::ReadOutput(int8_t* scores, int count) {
  if (interpreter_ == nullptr) return false;
  const TfLiteTensor* output = interpreter_->output(0);
  if (!Int8Tensor(output, static_cast<size_t>(count))) return false;
  std::memcpy(scores, output->data.int8, static_cast<size_t>(count));
  return true;
}

size_t TflmInference::arena_used_bytes() const {
  return interpreter_ == nullptr ? 0 : interpreter_->arena_used_bytes();
}

size_t TflmInference::arena_bytes() const { return sizeof(g_tensor_arena); }

}  // namespace tinymlops

#endif  // ARDUINO
