// Input quantization and output dequantization, exactly as the host does it
// (components/int8_model.py: np.clip(np.round(x / scale) + zero_point, -128, 127)):
// float32 division (never a multiplication by 1/scale), round half to even,
// then the zero point, then the clamp.
#ifndef TINYMLOPS_APP_QUANTIZE_H_
#define TINYMLOPS_APP_QUANTIZE_H_

#include <cstdint>

#include "model_info.h"

namespace tinymlops {

// q = clamp(round_half_even(x / scale) + zero_point, -128, 127).
// NaN maps to the clamped zero point (the host never sends NaN: the upload
// contract rejects it).
int8_t QuantizeValue(float x, float scale, int zero_point);

// Fills one input tensor, [T][1][c] row-major, from a raw window [T][C].
void QuantizeGroup(const float* window, int window_length, int channel_count, const InputGroup& group,
                   int8_t* out);

struct TopClass {
  int index;     // first index of the largest score (np.argmax)
  int8_t raw;    // its int8 score
  float score;   // (raw - zero_point) * scale, clamped to [0, 1]
};

TopClass TopClassOf(const int8_t* scores, int count, float scale, int zero_point);

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_QUANTIZE_H_
