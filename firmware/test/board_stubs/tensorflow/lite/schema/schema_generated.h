// Compile-check stub of the TFLM schema API the firmware uses. Not TFLM.
#ifndef TINYMLOPS_STUB_SCHEMA_GENERATED_H_
#define TINYMLOPS_STUB_SCHEMA_GENERATED_H_

#include <cstdint>

namespace tflite {

class Model {
 public:
  uint32_t version() const;
};

const Model* GetModel(const void* buffer);

}  // namespace tflite

#endif  // TINYMLOPS_STUB_SCHEMA_GENERATED_H_
