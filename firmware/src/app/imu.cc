#include "imu.h"

#include <cstring>

namespace tinymlops {

const ImuChannel kMotionChannels[kMotionChannelCount] = {
    {"ax", "g"}, {"ay", "g"}, {"az", "g"}, {"gx", "deg/s"}, {"gy", "deg/s"}, {"gz", "deg/s"},
};

bool MappedSensor::Begin(const ModelInfo& model, ImuSource* source, int* bad_channel) {
  source_ = nullptr;
  *bad_channel = -1;
  if (model.channel_count > kMaxImuChannels || source->channel_count() > kMaxImuChannels) {
    *bad_channel = kMaxImuChannels;
    return false;
  }
  for (int c = 0; c < model.channel_count; ++c) {
    map_[c] = -1;
    for (int s = 0; s < source->channel_count(); ++s) {
      const ImuChannel& offered = source->channels()[s];
      if (std::strcmp(offered.name, model.channel_names[c]) == 0 &&
          std::strcmp(offered.unit, model.channel_units[c]) == 0) {
        map_[c] = s;
        break;
      }
    }
    if (map_[c] < 0) {
      *bad_channel = c;
      return false;
    }
  }
  count_ = model.channel_count;
  source_ = source;
  return true;
}

bool MappedSensor::Read(float* values) {
  if (source_ == nullptr || !source_->ReadAll(all_)) return false;
  for (int c = 0; c < count_; ++c) values[c] = all_[map_[c]];
  return true;
}

void Mpu6050Convert(const uint8_t raw[14], float out[kMotionChannelCount]) {
  constexpr float kLsbPerG = 8192.0f;
  constexpr float kLsbPerDegS = 16.4f;
  const int offsets[kMotionChannelCount] = {0, 2, 4, 8, 10, 12};  // bytes 6-7: temperature
  for (int i = 0; i < kMotionChannelCount; ++i) {
    const int16_t value = static_cast<int16_t>(static_cast<uint16_t>((raw[offsets[i]] << 8) | raw[offsets[i] + 1]));
    out[i] = static_cast<float>(value) / (i < 3 ? kLsbPerG : kLsbPerDegS);
  }
}

}  // namespace tinymlops
