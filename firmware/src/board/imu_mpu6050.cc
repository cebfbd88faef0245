// ESP32 DevKit with an MPU-6050 on I2C (plain Wire, no driver library). Pins,
// address and clock are build flags:
//   TINYMLOPS_I2C_SDA (21), TINYMLOPS_I2C_SCL (22),
//   TINYMLOPS_MPU6050_ADDRESS (0x68; 0x69 with AD0 high), TINYMLOPS_I2C_CLOCK_HZ (400000).
// Configured for +-4 g and +-2000 deg/s (the ranges the data contract assumes),
// a 44 Hz low-pass filter and a 200 Hz internal sample rate; converted to g
// and deg/s by Mpu6050Convert (app/imu.cc, host-tested).
#if defined(ARDUINO) && defined(TINYMLOPS_BOARD_ESP32)

#include <Arduino.h>
#include <Wire.h>

#include "../app/text.h"
#include "board.h"

#ifndef TINYMLOPS_I2C_SDA
#define TINYMLOPS_I2C_SDA 21
#endif
#ifndef TINYMLOPS_I2C_SCL
#define TINYMLOPS_I2C_SCL 22
#endif
#ifndef TINYMLOPS_MPU6050_ADDRESS
#define TINYMLOPS_MPU6050_ADDRESS 0x68
#endif
#ifndef TINYMLOPS_I2C_CLOCK_HZ
#define TINYMLOPS_I2C_CLOCK_HZ 400000
#endif

namespace tinymlops {
namespace board {

namespace {

constexpr int kAddress = TINYMLOPS_MPU6050_ADDRESS;
constexpr uint8_t kRegSampleRateDivider = 0x19;
constexpr uint8_t kRegConfig = 0x1A;
constexpr uint8_t kRegGyroConfig = 0x1B;
constexpr uint8_t kRegAccelConfig = 0x1C;
constexpr uint8_t kRegAccelXoutH = 0x3B;
constexpr uint8_t kRegPowerManagement1 = 0x6B;
constexpr uint8_t kRegWhoAmI = 0x75;

bool WriteRegister(uint8_t reg, uint8_t value) {
  Wire.beginTransmission(kAddress);
  Wire.write(reg);
  Wire.write(value);
  return Wire.endTransmission() == 0;
}

bool ReadRegisters(uint8_t reg, uint8_t* out, int count) {
  Wire.beginTransmission(kAddress);
  Wire.write(reg);
  if (Wire.endTransmission(false) != 0) return false;
  if (Wire.requestFrom(kAddress, count) != count) return false;
  for (int i = 0; i < count; ++i) out[i] = static_cast<uint8_t>(Wire.read());
  return true;
}

class Mpu6050 final : public ImuSource {
 public:
  bool ReadAll(float* values) override {
    uint8_t raw[14];
    if (!ReadRegisters(kRegAccelXoutH, raw, 14)) return false;
    Mpu6050Convert(raw, values);
    return true;
  }
  const ImuChannel* channels() const override { return kMotionChannels; }
  int channel_count() const override { return kMotionChannelCount; }
};

Mpu6050 g_imu;
char g_device_id[32];

}  // namespace

ImuSource* StartImu(const char** error) {
  Wire.begin(TINYMLOPS_I2C_SDA, TINYMLOPS_I2C_SCL, TINYMLOPS_I2C_CLOCK_HZ);
  uint8_t who = 0;
  if (!ReadRegisters(kRegWhoAmI, &who, 1)) {
    *error = "MPU-6050 did not answer on I2C (check TINYMLOPS_I2C_SDA/SCL and TINYMLOPS_MPU6050_ADDRESS)";
    return nullptr;
  }
  // Reset, then wake with the X gyro PLL as clock.
  if (!WriteRegister(kRegPowerManagement1, 0x80)) {
    *error = "MPU-6050 reset failed";
    return nullptr;
  }
  delay(100);
  const bool configured = WriteRegister(kRegPowerManagement1, 0x01) &&
                          WriteRegister(kRegConfig, 0x03) &&              // DLPF 44 Hz
                          WriteRegister(kRegSampleRateDivider, 0x04) &&   // 1 kHz / 5 = 200 Hz
                          WriteRegister(kRegGyroConfig, 0x18) &&          // +-2000 deg/s
                          WriteRegister(kRegAccelConfig, 0x08);           // +-4 g
  if (!configured) {
    *error = "MPU-6050 configuration write failed";
    return nullptr;
  }
  delay(50);
  return &g_imu;
}

const char* DeviceId() {
#if defined(TINYMLOPS_DEVICE_ID)
  return TINYMLOPS_DEVICE_ID;
#else
  if (g_device_id[0] == '\0') {
    const uint64_t mac = ESP.getEfuseMac();  // 48 bits
    TextBuilder id(g_device_id, sizeof(g_device_id));
    id.Str("esp32-").Hex(static_cast<uint32_t>(mac >> 32), 4).Hex(static_cast<uint32_t>(mac), 8);
  }
  return g_device_id;
#endif
}

}  // namespace board
}  // namespace tinymlops

#endif  // ARDUINO && TINYMLOPS_BOARD_ESP32
