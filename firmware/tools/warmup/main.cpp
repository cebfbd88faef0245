// A minimal sketch that pulls in what the real firmware uses (the Arduino core,
// the TFLM library, the IMU library / Wire), built once per environment while
// the builder image is made (firmware/Dockerfile): it compiles each core and
// library once and makes PlatformIO fetch anything it only fetches on a first
// build, so builds from the image need no network. Not part of the firmware.
#include <Arduino.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

#if defined(TINYMLOPS_BOARD_NANO33BLE)
#include <Arduino_LSM9DS1.h>
#endif
#if defined(TINYMLOPS_BOARD_ESP32)
#include <Wire.h>
#endif

void setup() { Serial.begin(115200); }

void loop() {}
