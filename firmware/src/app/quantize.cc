#include "quantize.h"

#include <cmath>

namespace tinymlops {

int8_t QuantizeValue(float x, float scale, int zero_point) {
  float q;
  if (std::isnan(x)) {
    q = static_cast<float>(zero_point);
  } else {
    // nearbyint rounds to nearest, ties to even, in the default rounding mode
    // (like np.round); float arithmetic throughout, like numpy on float32.
    q = std::nearbyint(x / scale) + static_cast<float>(zero_point);
  }
  if (!(q > -128.0f)) return -128;  // also catches -inf
  if (q > 127.0f) return 127;
  return static_cast<int8_t>(q);
}

void QuantizeGroup(const float* window, int window_length, int channel_count, const InputGroup& group,
                   int8_t* out) {
  for (int t = 0; t < window_length; ++t) {
    const float* sample = window + t * channel_count;
    for (int j = 0; j < group.channel_count; ++j) {
      *out++ = QuantizeValue(sample[group.channels[j]], group.scale, group.zero_point);
    }
  }
}

TopClass TopClassOf(const int8_t* scores, int count, float scale, int zero_point) {
  TopClass top{0, count > 0 ? scores[0] : static_cast<int8_t>(-128), 0.0f};
  for (int k = 1; k < count; ++k) {
    if (scores[k] > top.raw) {
      top.index = k;
      top.raw = scores[k];
    }
  }
  float score = static_cast<float>(static_cast<int>(top.raw) - zero_point) * scale;
  if (!(score > 0.0f)) score = 0.0f;  // also NaN
  if (score > 1.0f) score = 1.0f;
  top.score = score;
  return top;
}

}  // namespace tinymlops
