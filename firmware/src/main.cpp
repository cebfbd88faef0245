// The thin Arduino main, like tflite-micro's hello_world / magic_wand: set up
// the board's pieces, hand them to the plain C++ application (app/app.h),
// then tick it from loop(). Everything else is plain C++ (host-tested) except
// the TFLM call (board/tflm_inference.cc) and the IMU drivers (board/imu_*.cc).
#include <Arduino.h>

#include "app/app.h"
#include "app/current_model.h"
#include "app/imu.h"
#include "app/text.h"
#include "board/arduino_line_io.h"
#include "board/board.h"
#include "board/tflm_inference.h"

#ifndef TINYMLOPS_SERIAL_BAUD
#define TINYMLOPS_SERIAL_BAUD 115200
#endif
// Samples between predictions in infer mode; 0: half a window.
#ifndef TINYMLOPS_INFER_STRIDE
#define TINYMLOPS_INFER_STRIDE 0
#endif

namespace {

tinymlops::App* g_app = nullptr;

void Log(tinymlops::LineIO& io, const char* what, const char* detail) {
  char line[192];
  tinymlops::TextBuilder text(line, sizeof(line));
  text.Str("# ").Str(what).Str(detail);
  io.WriteLine(text.c_str());
}

}  // namespace

void setup() {
  Serial.begin(TINYMLOPS_SERIAL_BAUD);
  const unsigned long start = millis();
  while (!Serial && millis() - start < 2000) {
    // USB CDC (Nano 33 BLE): give the host up to 2 s to open the port.
  }
  static tinymlops::ArduinoLineIO io(tinymlops::LineInBuffer(), tinymlops::LineInCapacity());
  const tinymlops::ModelInfo& model = tinymlops::CurrentModel();

  // The model's channels from the board's IMU; without them the app runs
  // with no sensor (verify mode works, COLLECT and infer say why they cannot).
  static tinymlops::MappedSensor mapped;
  tinymlops::Sensor* sensor = nullptr;
  const char* imu_error = "";
  tinymlops::ImuSource* imu = tinymlops::board::StartImu(&imu_error);
  int bad_channel = -1;
  if (imu == nullptr) {
    Log(io, "sensor: ", imu_error);
  } else if (!mapped.Begin(model, imu, &bad_channel)) {
    Log(io, "sensor: this board has no channel ",
        bad_channel >= 0 && bad_channel < model.channel_count ? model.channel_names[bad_channel] : "(too many)");
  } else {
    sensor = &mapped;
  }

  static tinymlops::TflmInference inference;
  const char* model_error = inference.Begin();
  if (model_error != nullptr) {
    Log(io, "model: ", model_error);
  } else {
    char line[96];
    tinymlops::TextBuilder text(line, sizeof(line));
    text.Str("# model: ").Str(model.sha256, 8).Str(", tensor arena: ").Uint(inference.arena_used_bytes());
    text.Str(" of ").Uint(inference.arena_bytes()).Str(" B used");
    io.WriteLine(text.c_str());
  }

  tinymlops::AppOptions options;
  options.infer_stride = TINYMLOPS_INFER_STRIDE;
  static tinymlops::App app(model, tinymlops::CurrentBuffers(), sensor, &io, &inference,
                            tinymlops::board::DeviceId(), options);
  g_app = &app;
  app.Begin(micros());
}

void loop() { g_app->Tick(micros()); }
