// Window assembly at the configured rate.
//
// MonotonicClock turns the wrapping 32-bit microsecond counter of the board
// (Arduino micros(), which starts at boot) into a 64-bit time that keeps
// counting past the wrap (every 71.6 minutes). SampleSchedule says when the
// next sample is due, with slot times start + n / rate computed exactly (no
// accumulated rounding drift); a caller that fell behind by more than one
// period skips the missed slots and they are counted. WindowAssembler keeps
// the newest samples in a ring buffer and says when a window of T samples is
// ready, every `stride` new samples.
#ifndef TINYMLOPS_APP_SAMPLER_H_
#define TINYMLOPS_APP_SAMPLER_H_

#include <cstdint>

#include "ring_buffer.h"

namespace tinymlops {

class MonotonicClock {
 public:
  uint64_t Update(uint32_t now_us) {
    if (!started_) {
      started_ = true;
      last_ = now_us;
      elapsed_ = now_us;
    }
    elapsed_ += static_cast<uint32_t>(now_us - last_);  // modular: survives the wrap
    last_ = now_us;
    return elapsed_;
  }
  uint64_t elapsed_us() const { return elapsed_; }

 private:
  bool started_ = false;
  uint32_t last_ = 0;
  uint64_t elapsed_ = 0;
};

class SampleSchedule {
 public:
  // False when the rate is not a positive, finite number below 1 MHz.
  bool SetRate(float rate_hz);
  void Start(uint64_t now_us);
  // True when a sample is due at now_us (and the schedule moves on).
  bool Due(uint64_t now_us);
  uint64_t SlotTime(uint64_t slot) const;
  uint32_t missed() const { return missed_; }

 private:
  uint64_t rate_mhz_ = 0;  // millihertz
  uint64_t start_us_ = 0;
  uint64_t next_slot_ = 0;
  uint32_t missed_ = 0;
};

class WindowAssembler {
 public:
  WindowAssembler(SampleRing* ring, int window_length, int stride)
      : ring_(ring), window_length_(window_length), stride_(stride < 1 ? 1 : stride) {}

  void Reset();
  // Stores a sample; true when a new window is ready: at least T samples are
  // stored and `stride` samples arrived since the previous window.
  bool Add(uint32_t t_ms, const float* sample);
  // The newest T samples, oldest first, row-major [T][C].
  bool CopyWindow(float* window) const { return ring_->CopyLatest(window_length_, window); }
  int stride() const { return stride_; }

 private:
  SampleRing* ring_;
  int window_length_;
  int stride_;
  int since_window_ = 0;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_SAMPLER_H_
