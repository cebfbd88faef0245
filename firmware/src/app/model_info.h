// What the application needs to know about the model, as plain data.
//
// The board build fills it from the generated model_settings.h
// (current_model.cc); host tests describe small fake models with it, so the
// application logic is tested without any generated file.
#ifndef TINYMLOPS_APP_MODEL_INFO_H_
#define TINYMLOPS_APP_MODEL_INFO_H_

#include <cstdint>

namespace tinymlops {

// One int8 input tensor: a group of channels that share a unit and a
// quantization. Its tensor holds the window as [1, T, 1, channel_count].
struct InputGroup {
  const char* name;
  int tensor_index;    // the input's index in the model (interpreter->input(i))
  int channel_count;
  const int* channels;  // channel_count indices into the window's channels
  float scale;
  int zero_point;
};

struct ModelInfo {
  const char* sha256;  // hex of the .tflite's SHA-256
  int window_length;   // T samples per window
  float sample_rate_hz;
  int channel_count;   // C values per sample, raw sensor units
  const char* const* channel_names;
  const char* const* channel_units;
  int input_count;
  const InputGroup* inputs;
  int class_count;     // K int8 scores
  const char* const* class_names;
  float output_scale;
  int output_zero_point;
};

// Storage the application works in; the board build sizes it from the
// generated settings (current_model.cc), tests from their fake model.
struct AppBuffers {
  float* ring_values;     // ring_capacity * C
  uint32_t* ring_times;   // ring_capacity
  int ring_capacity;      // samples; at least T
  float* window;          // window_capacity floats; at least T * C
  int window_capacity;
  int8_t* input;          // input_capacity; at least T * (largest group)
  int input_capacity;
  int8_t* scores;         // scores_capacity; at least K
  int scores_capacity;
  char* line;             // line_capacity: one formatted output line
  int line_capacity;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_MODEL_INFO_H_
