// Compile-check stub of the TFLM MicroInterpreter API the firmware uses, with
// the real signatures (tflite-micro's micro_interpreter.h). Not TFLM.
#ifndef TINYMLOPS_STUB_MICRO_INTERPRETER_H_
#define TINYMLOPS_STUB_MICRO_INTERPRETER_H_

#include <cstddef>
#include <cstdint>

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLITE_SCHEMA_VERSION (3)

typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt32 = 2, kTfLiteUInt8 = 3, kTfLiteInt8 = 9 } TfLiteType;

typedef struct {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef union {
  int32_t* i32;
  float* f;
  uint8_t* uint8;
  int8_t* int8;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  size_t bytes;
  TfLiteQuantizationParams params;
} TfLiteTensor;

namespace tflite {

class MicroResourceVariables;
class MicroProfilerInterface;

class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size, MicroResourceVariables* resource_variables = nullptr,
                   MicroProfilerInterface* profiler = nullptr);
  ~MicroInterpreter();
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  size_t inputs_size() const;
  TfLiteTensor* output(size_t index);
  size_t outputs_size() const;
  size_t arena_used_bytes() const;
};

}  // namespace tflite

#endif  // TINYMLOPS_STUB_MICRO_INTERPRETER_H_
