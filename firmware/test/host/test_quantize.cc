#include <limits>

#include "check.h"
#include "quantize.h"

using tinymlops::InputGroup;
using tinymlops::QuantizeGroup;
using tinymlops::QuantizeValue;
using tinymlops::TopClass;
using tinymlops::TopClassOf;

TEST(quantize_divides_rounds_and_adds_the_zero_point) {
  CHECK_EQ(QuantizeValue(1.0f, 0.5f, 0), static_cast<int8_t>(2));
  CHECK_EQ(QuantizeValue(1.0f, 0.5f, -28), static_cast<int8_t>(-26));
  CHECK_EQ(QuantizeValue(-1.0f, 0.25f, 10), static_cast<int8_t>(6));
  CHECK_EQ(QuantizeValue(0.0f, 0.0240588244f, -28), static_cast<int8_t>(-28));
}

TEST(quantize_rounds_half_to_even_like_numpy) {
  CHECK_EQ(QuantizeValue(2.5f, 1.0f, 0), static_cast<int8_t>(2));
  CHECK_EQ(QuantizeValue(3.5f, 1.0f, 0), static_cast<int8_t>(4));
  CHECK_EQ(QuantizeValue(-2.5f, 1.0f, 0), static_cast<int8_t>(-2));
  CHECK_EQ(QuantizeValue(-3.5f, 1.0f, 0), static_cast<int8_t>(-4));
  CHECK_EQ(QuantizeValue(0.5f, 1.0f, 0), static_cast<int8_t>(0));
  CHECK_EQ(QuantizeValue(2.4999998f, 1.0f, 0), static_cast<int8_t>(2));
  CHECK_EQ(QuantizeValue(2.5000002f, 1.0f, 0), static_cast<int8_t>(3));
}

TEST(quantize_rounds_before_adding_the_zero_point) {
  // round(0.5) + 1 = 1, where round(0.5 + 1) would be 2.
  CHECK_EQ(QuantizeValue(0.5f, 1.0f, 1), static_cast<int8_t>(1));
  CHECK_EQ(QuantizeValue(1.5f, 1.0f, -1), static_cast<int8_t>(1));
}

TEST(quantize_divides_instead_of_multiplying_by_the_reciprocal) {
  // x / s = -152.500015 (rounds to -153); x * (1 / s) = -152.5 (rounds to -152).
  const float x = -0x1.d5a0d8p+1f;
  CHECK_EQ(QuantizeValue(x, 0.0240588244f, 100), static_cast<int8_t>(-53));
}

TEST(quantize_clamps_to_int8) {
  CHECK_EQ(QuantizeValue(1000.0f, 1.0f, 0), static_cast<int8_t>(127));
  CHECK_EQ(QuantizeValue(-1000.0f, 1.0f, 0), static_cast<int8_t>(-128));
  CHECK_EQ(QuantizeValue(127.4f, 1.0f, 0), static_cast<int8_t>(127));
  CHECK_EQ(QuantizeValue(127.5f, 1.0f, 0), static_cast<int8_t>(127));
  CHECK_EQ(QuantizeValue(-128.5f, 1.0f, 0), static_cast<int8_t>(-128));
  CHECK_EQ(QuantizeValue(-129.0f, 1.0f, 0), static_cast<int8_t>(-128));
  CHECK_EQ(QuantizeValue(100.0f, 1.0f, 100), static_cast<int8_t>(127));
  CHECK_EQ(QuantizeValue(-100.0f, 1.0f, -100), static_cast<int8_t>(-128));
  CHECK_EQ(QuantizeValue(3.0e38f, 1.0e-3f, 0), static_cast<int8_t>(127));  // x / scale overflows to inf
  CHECK_EQ(QuantizeValue(std::numeric_limits<float>::infinity(), 0.5f, 0), static_cast<int8_t>(127));
  CHECK_EQ(QuantizeValue(-std::numeric_limits<float>::infinity(), 0.5f, 0), static_cast<int8_t>(-128));
}

TEST(quantize_maps_nan_to_the_zero_point) {
  CHECK_EQ(QuantizeValue(std::numeric_limits<float>::quiet_NaN(), 0.5f, -28), static_cast<int8_t>(-28));
}

TEST(quantize_group_picks_its_channels_in_order) {
  // Window T=2, C=3: rows (1, 2, 3) and (4, 5, 6); the group takes channels 2 then 0.
  const float window[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  const int channels[2] = {2, 0};
  const InputGroup group{"in_x", 0, 2, channels, 1.0f, 10};
  int8_t out[4] = {};
  QuantizeGroup(window, 2, 3, group, out);
  CHECK_EQ(out[0], static_cast<int8_t>(13));
  CHECK_EQ(out[1], static_cast<int8_t>(11));
  CHECK_EQ(out[2], static_cast<int8_t>(16));
  CHECK_EQ(out[3], static_cast<int8_t>(14));
}

TEST(top_class_is_the_first_largest_score) {
  const int8_t scores[5] = {-128, 90, 90, -5, 89};
  const TopClass top = TopClassOf(scores, 5, 1.0f / 256.0f, -128);
  CHECK_EQ(top.index, 1);
  CHECK_EQ(top.raw, static_cast<int8_t>(90));
  CHECK_EQ(top.score, 218.0f / 256.0f);
}

TEST(top_class_score_is_dequantized_and_kept_in_0_1) {
  const int8_t high[2] = {127, -128};
  CHECK_EQ(TopClassOf(high, 2, 1.0f / 256.0f, -128).score, 255.0f / 256.0f);
  CHECK_EQ(TopClassOf(high, 2, 1.0f / 128.0f, -128).score, 1.0f);  // 255 / 128 clamps to 1
  const int8_t low[2] = {-128, -128};
  const TopClass top = TopClassOf(low, 2, 1.0f / 256.0f, -128);
  CHECK_EQ(top.index, 0);
  CHECK_EQ(top.score, 0.0f);
  const int8_t negative[1] = {-10};
  CHECK_EQ(TopClassOf(negative, 1, 0.1f, 0).score, 0.0f);
}
