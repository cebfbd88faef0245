#include "ring_buffer.h"

#include <cstring>

namespace tinymlops {

void SampleRing::Push(uint32_t t_ms, const float* sample) {
  if (capacity_ <= 0) return;
  std::memcpy(values_ + head_ * channels_, sample, sizeof(float) * static_cast<unsigned>(channels_));
  times_[head_] = t_ms;
  head_ = (head_ + 1) % capacity_;
  if (size_ < capacity_) ++size_;
}

int SampleRing::Slot(int age) const {
  // head_ - 1 is the newest; add capacity_ once to stay non-negative.
  return (head_ - 1 - age + 2 * capacity_) % capacity_;
}

const float* SampleRing::Sample(int age) const { return values_ + Slot(age) * channels_; }

uint32_t SampleRing::Time(int age) const { return times_[Slot(age)]; }

bool SampleRing::CopyLatest(int count, float* window) const {
  if (count <= 0 || count > size_) return false;
  for (int i = 0; i < count; ++i) {
    std::memcpy(window + i * channels_, Sample(count - 1 - i), sizeof(float) * static_cast<unsigned>(channels_));
  }
  return true;
}

}  // namespace tinymlops
