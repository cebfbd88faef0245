// Inference with TensorFlow Lite Micro: the generated g_model, the generated
// op resolver (model_ops.h RegisterOps: exactly the model's operators) and a
// 16-byte aligned tensor arena of model_settings::kTensorArenaSize bytes.
// Board builds only (TFLM comes from the Arduino library in platformio.ini).
#ifndef TINYMLOPS_BOARD_TFLM_INFERENCE_H_
#define TINYMLOPS_BOARD_TFLM_INFERENCE_H_

#include <cstddef>

#include "../app/interfaces.h"

namespace tflite {
class MicroInterpreter;
}

namespace tinymlops {

class TflmInference final : public Inference {
 public:
  // Builds the interpreter and checks the model's tensors against
  // model_settings.h. nullptr on success, else what failed (then every call
  // below returns false).
  const char* Begin();
  bool SetInput(int tensor_index, const int8_t* data, int count) override;
  bool Invoke() override;
  bool ReadOutput(int8_t* scores, int count) override;
  size_t arena_used_bytes() const;  // after Begin(): what TFLM took of the arena
  size_t arena_bytes() const;       // model_settings::kTensorArenaSize

 private:
  tflite::MicroInterpreter* interpreter_ = nullptr;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_BOARD_TFLM_INFERENCE_H_
