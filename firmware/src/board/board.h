// What differs between the boards: the IMU and the device id. Implemented by
// imu_lsm9ds1.cc (Nano 33 BLE) and imu_mpu6050.cc (ESP32); board builds only.
#ifndef TINYMLOPS_BOARD_BOARD_H_
#define TINYMLOPS_BOARD_BOARD_H_

#include "../app/imu.h"

namespace tinymlops {
namespace board {

// Starts the board's IMU. nullptr on failure, with *error saying what failed.
ImuSource* StartImu(const char** error);

// "nano33ble-<16 hex of FICR DEVICEID>" or "esp32-<12 hex of the eFuse MAC>",
// unless the build defines TINYMLOPS_DEVICE_ID="...".
const char* DeviceId();

}  // namespace board
}  // namespace tinymlops

#endif  // TINYMLOPS_BOARD_BOARD_H_
