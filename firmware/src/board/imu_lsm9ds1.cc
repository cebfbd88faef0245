// Nano 33 BLE (Rev1): the onboard LSM9DS1 through the Arduino_LSM9DS1 library,
// which sets accelerometer +-4 g and gyroscope +-2000 deg/s at 119 Hz and
// reads g, deg/s and (magnetometer, 20 Hz) uT. The Nano 33 BLE Rev2 has a
// BMI270 + BMM150 instead: IMU.begin() then fails and the app says so.
#if defined(ARDUINO) && defined(TINYMLOPS_BOARD_NANO33BLE)

#include <Arduino.h>
#include <Arduino_LSM9DS1.h>


#include "../app/text.h"
#include "board.h"

#if __has_include(<nrf.h>)
#include <nrf.h>
#endif
#if !defined(NRF_FICR) && !defined(TINYMLOPS_DEVICE_ID)
#warning "NRF_FICR is not reachable: every Nano reports device=nano33ble; set -DTINYMLOPS_DEVICE_ID"
#endif

namespace tinymlops {
namespace board {

namespace {

constexpr int kChannelCount = 9;
const ImuChannel kChannels[kChannelCount] = {
    {"ax", "g"},     {"ay", "g"},     {"az", "g"},  {"gx", "deg/s"}, {"gy", "deg/s"},
    {"gz", "deg/s"}, {"mx", "uT"},    {"my", "uT"}, {"mz", "uT"},
};

class Lsm9ds1 final : public ImuSource {
 public:
  bool ReadAll(float* values) override {
    // The output registers hold the latest sample (119 Hz, above any rate a
    // model here uses); the magnetometer is slower, so its last value is kept.
    if (IMU.readAcceleration(values[0], values[1], values[2]) != 1) return false;
    if (IMU.readGyroscope(values[3], values[4], values[5]) != 1) return false;
    if (IMU.magneticFieldAvailable()) IMU.readMagneticField(magnetic_[0], magnetic_[1], magnetic_[2]);
    values[6] = magnetic_[0];
    values[7] = magnetic_[1];
    values[8] = magnetic_[2];
    return true;
  }
  const ImuChannel* channels() const override { return kChannels; }
  int channel_count() const override { return kChannelCount; }

 private:
  float magnetic_[3] = {0.0f, 0.0f, 0.0f};
};

Lsm9ds1 g_imu;
char g_device_id[32];

}  // namespace

ImuSource* StartImu(const char** error) {
  if (!IMU.begin()) {
    *error = "LSM9DS1 did not answer (IMU.begin failed; a Nano 33 BLE Rev2 has a BMI270 instead)";
    return nullptr;
  }
  return &g_imu;
}

const char* DeviceId() {
#if defined(TINYMLOPS_DEVICE_ID)
  return TINYMLOPS_DEVICE_ID;
#else
  if (g_device_id[0] == '\0') {
    TextBuilder id(g_device_id, sizeof(g_device_id));
    id.Str("nano33ble");
#if defined(NRF_FICR)
    id.Char('-').Hex(NRF_FICR->DEVICEID[1], 8).Hex(NRF_FICR->DEVICEID[0], 8);
#endif
  }
  return g_device_id;
#endif
}

}  // namespace board
}  // namespace tinymlops

#endif  // ARDUINO && TINYMLOPS_BOARD_NANO33BLE
