#include "sampler.h"

#include <cmath>

namespace tinymlops {

namespace {
constexpr uint64_t kMilliHertzPerHertz = 1000;            // rates are kept in mHz
constexpr uint64_t kUsTimesMilli = 1000000ull * 1000ull;  // 1 s in us, times mHz per Hz
}  // namespace

bool SampleSchedule::SetRate(float rate_hz) {
  if (!std::isfinite(rate_hz) || rate_hz <= 0.0f || rate_hz >= 1.0e6f) return false;
  const double mhz = std::round(static_cast<double>(rate_hz) * static_cast<double>(kMilliHertzPerHertz));
  if (mhz < 1.0) return false;
  rate_mhz_ = static_cast<uint64_t>(mhz);
  return true;
}

void SampleSchedule::Start(uint64_t now_us) {
  start_us_ = now_us;
  next_slot_ = 0;
  missed_ = 0;
}

uint64_t SampleSchedule::SlotTime(uint64_t slot) const {
  return start_us_ + slot * kUsTimesMilli / rate_mhz_;
}

bool SampleSchedule::Due(uint64_t now_us) {
  if (rate_mhz_ == 0 || now_us < SlotTime(next_slot_)) return false;
  // The latest slot that has started; any slot between next_slot_ and it was missed.
  const uint64_t latest = (now_us - start_us_) * rate_mhz_ / kUsTimesMilli;
  if (latest > next_slot_) missed_ += static_cast<uint32_t>(latest - next_slot_);
  next_slot_ = (latest > next_slot_ ? latest : next_slot_) + 1;
  return true;
}

void WindowAssembler::Reset() {
  ring_->Clear();
  since_window_ = 0;
}

bool WindowAssembler::Add(uint32_t t_ms, const float* sample) {
  ring_->Push(t_ms, sample);
  if (since_window_ < stride_) ++since_window_;
  if (ring_->size() < window_length_ || since_window_ < stride_) return false;
  since_window_ = 0;
  return true;
}

}  // namespace tinymlops
