// A ring buffer of samples (a timestamp and C channel values each), over
// storage the caller owns. Push overwrites the oldest sample when full.
#ifndef TINYMLOPS_APP_RING_BUFFER_H_
#define TINYMLOPS_APP_RING_BUFFER_H_

#include <cstdint>

namespace tinymlops {

class SampleRing {
 public:
  SampleRing(float* values, uint32_t* times, int capacity, int channels)
      : values_(values), times_(times), capacity_(capacity), channels_(channels) {}

  void Clear() {
    head_ = 0;
    size_ = 0;
  }
  void Push(uint32_t t_ms, const float* sample);
  int size() const { return size_; }
  int capacity() const { return capacity_; }
  int channels() const { return channels_; }
  // Sample `age` steps back: 0 is the newest. Requires age < size().
  const float* Sample(int age) const;
  uint32_t Time(int age) const;
  // Copies the newest `count` samples, oldest first, as a row-major
  // [count][channels] window. False (nothing copied) when fewer are stored.
  bool CopyLatest(int count, float* window) const;

 private:
  int Slot(int age) const;

  float* values_;
  uint32_t* times_;
  int capacity_;
  int channels_;
  int head_ = 0;  // slot the next Push writes
  int size_ = 0;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_RING_BUFFER_H_
