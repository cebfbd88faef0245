#include <cmath>

#include "check.h"
#include "fakes.h"
#include "imu.h"

using tinymlops::ImuChannel;
using tinymlops::MappedSensor;

namespace {
class FakeImu final : public tinymlops::ImuSource {
 public:
  bool ReadAll(float* values) override {
    for (int i = 0; i < 9; ++i) values[i] = static_cast<float>(i);
    return ok;
  }
  const ImuChannel* channels() const override { return kChannels; }
  int channel_count() const override { return 9; }
  bool ok = true;

 private:
  static constexpr ImuChannel kChannels[9] = {{"ax", "g"},     {"ay", "g"},     {"az", "g"},
                                              {"gx", "deg/s"}, {"gy", "deg/s"}, {"gz", "deg/s"},
                                              {"mx", "uT"},    {"my", "uT"},    {"mz", "uT"}};
};
constexpr ImuChannel FakeImu::kChannels[9];
}  // namespace

TEST(mapped_sensor_picks_the_models_channels_by_name_and_unit) {
  fakes::FakeModel model;  // ax, ay (g), gx (deg/s)
  FakeImu imu;
  MappedSensor sensor;
  int bad = 0;
  CHECK(sensor.Begin(model.info, &imu, &bad));
  float values[3];
  CHECK(sensor.Read(values));
  CHECK_EQ(values[0], 0.0f);
  CHECK_EQ(values[1], 1.0f);
  CHECK_EQ(values[2], 3.0f);
  imu.ok = false;
  CHECK(!sensor.Read(values));
}

TEST(mapped_sensor_refuses_an_unknown_channel_or_unit) {
  fakes::FakeModel model;
  FakeImu imu;
  MappedSensor sensor;
  int bad = 0;
  model.channel_units[2] = "rad/s";
  CHECK(!sensor.Begin(model.info, &imu, &bad));
  CHECK_EQ(bad, 2);
  model.channel_units[2] = "deg/s";
  model.channel_names[0] = "temp";
  CHECK(!sensor.Begin(model.info, &imu, &bad));
  CHECK_EQ(bad, 0);
  float values[3];
  CHECK(!sensor.Read(values));
}

TEST(mpu6050_raw_to_g_and_deg_per_s) {
  // ax = 8192 (1 g), ay = -8192, az = 0x7fff, temperature, gx = 1640, gy = -16400, gz = 0.
  const uint8_t raw[14] = {0x20, 0x00, 0xe0, 0x00, 0x7f, 0xff, 0x12, 0x34, 0x06, 0x68, 0xbf, 0xf0, 0x00, 0x00};
  float out[6];
  tinymlops::Mpu6050Convert(raw, out);
  CHECK_EQ(out[0], 1.0f);
  CHECK_EQ(out[1], -1.0f);
  CHECK(std::fabs(out[2] - 4.0f) < 2e-4f);
  CHECK(std::fabs(out[3] - 100.0f) < 1e-4f);
  CHECK(std::fabs(out[4] + 1000.0f) < 1e-3f);
  CHECK_EQ(out[5], 0.0f);
}
