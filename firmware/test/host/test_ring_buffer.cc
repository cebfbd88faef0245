#include <vector>

#include "check.h"
#include "ring_buffer.h"

using tinymlops::SampleRing;

namespace {
std::vector<float> Row(float base) { return {base, base + 0.5f}; }
}  // namespace

TEST(ring_buffer_keeps_samples_in_order_until_full) {
  float values[3 * 2];
  uint32_t times[3];
  SampleRing ring(values, times, 3, 2);
  CHECK_EQ(ring.size(), 0);
  ring.Push(10, Row(1).data());
  ring.Push(20, Row(2).data());
  CHECK_EQ(ring.size(), 2);
  CHECK_EQ(ring.Sample(0)[0], 2.0f);
  CHECK_EQ(ring.Sample(1)[1], 1.5f);
  CHECK_EQ(ring.Time(0), 20u);
  float window[2 * 2];
  CHECK(ring.CopyLatest(2, window));
  CHECK_EQ(window[0], 1.0f);
  CHECK_EQ(window[1], 1.5f);
  CHECK_EQ(window[2], 2.0f);
  CHECK_EQ(window[3], 2.5f);
  CHECK(!ring.CopyLatest(3, window));
  CHECK(!ring.CopyLatest(0, window));
}

TEST(ring_buffer_overwrites_the_oldest_when_full) {
  float values[3 * 2];
  uint32_t times[3];
  SampleRing ring(values, times, 3, 2);
  for (int i = 0; i < 7; ++i) ring.Push(static_cast<uint32_t>(i * 10), Row(static_cast<float>(i)).data());
  CHECK_EQ(ring.size(), 3);
  float window[3 * 2];
  CHECK(ring.CopyLatest(3, window));
  CHECK_EQ(window[0], 4.0f);
  CHECK_EQ(window[2], 5.0f);
  CHECK_EQ(window[4], 6.0f);
  CHECK_EQ(window[5], 6.5f);
  CHECK_EQ(ring.Time(2), 40u);
  CHECK(ring.CopyLatest(1, window));
  CHECK_EQ(window[0], 6.0f);
  ring.Clear();
  CHECK_EQ(ring.size(), 0);
  CHECK(!ring.CopyLatest(1, window));
}

TEST(ring_buffer_of_one_sample) {
  float values[2];
  uint32_t times[1];
  SampleRing ring(values, times, 1, 2);
  ring.Push(1, Row(1).data());
  ring.Push(2, Row(2).data());
  CHECK_EQ(ring.size(), 1);
  CHECK_EQ(ring.Sample(0)[0], 2.0f);
  CHECK_EQ(ring.Time(0), 2u);
}
