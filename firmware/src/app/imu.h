// From what an IMU driver reads to the model's channels.
//
// A driver (src/board/) reads all of its quantities at once, in its own order
// and in raw units; MappedSensor picks the model's channels out of them, in
// the configured order, by name, and refuses a channel the driver does not
// have or has in another unit. So a model trained on another channel list
// (a user dataset) either runs on the board unchanged or fails at boot with
// a message naming the channel.
#ifndef TINYMLOPS_APP_IMU_H_
#define TINYMLOPS_APP_IMU_H_

#include <cstdint>

#include "interfaces.h"
#include "model_info.h"

namespace tinymlops {

struct ImuChannel {
  const char* name;
  const char* unit;
};

// What every driver here offers first: accelerometer in g, gyroscope in deg/s.
constexpr int kMotionChannelCount = 6;
extern const ImuChannel kMotionChannels[kMotionChannelCount];  // ax ay az gx gy gz
constexpr int kMaxImuChannels = 12;

class ImuSource {
 public:
  // All channels() at once, in raw units.
  virtual bool ReadAll(float* values) = 0;
  virtual const ImuChannel* channels() const = 0;
  virtual int channel_count() const = 0;

 protected:
  ~ImuSource() = default;
};

class MappedSensor final : public Sensor {
 public:
  // Maps the model's channels onto the source's. On failure returns false and
  // *bad_channel is the index of the model channel that has no match.
  bool Begin(const ModelInfo& model, ImuSource* source, int* bad_channel);
  bool Read(float* values) override;

 private:
  ImuSource* source_ = nullptr;
  int count_ = 0;
  int map_[kMaxImuChannels] = {};
  float all_[kMaxImuChannels] = {};
};

// MPU-6050 configured for +-4 g (8192 LSB/g) and +-2000 deg/s (16.4 LSB per
// deg/s): the 14 bytes read from ACCEL_XOUT_H (0x3B), big-endian
// ax ay az temperature gx gy gz, to ax ay az in g and gx gy gz in deg/s.
void Mpu6050Convert(const uint8_t raw[14], float out[kMotionChannelCount]);

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_IMU_H_
