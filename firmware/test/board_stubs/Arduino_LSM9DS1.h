// Compile-check stub of the Arduino_LSM9DS1 library API (1.1.x). Not the library.
#ifndef TINYMLOPS_STUB_ARDUINO_LSM9DS1_H_
#define TINYMLOPS_STUB_ARDUINO_LSM9DS1_H_

class LSM9DS1Class {
 public:
  int begin();
  int readAcceleration(float& x, float& y, float& z);  // g
  int accelerationAvailable();
  int readGyroscope(float& x, float& y, float& z);  // deg/s
  int gyroscopeAvailable();
  int readMagneticField(float& x, float& y, float& z);  // uT
  int magneticFieldAvailable();
};
extern LSM9DS1Class IMU;

#endif  // TINYMLOPS_STUB_ARDUINO_LSM9DS1_H_
