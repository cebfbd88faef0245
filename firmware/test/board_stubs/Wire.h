// Compile-check stub of the ESP32 Arduino core's Wire (TwoWire) API. Not a core.
#ifndef TINYMLOPS_STUB_WIRE_H_
#define TINYMLOPS_STUB_WIRE_H_

#include <cstddef>
#include <cstdint>

class TwoWire {
 public:
  bool begin(int sda, int scl, uint32_t frequency = 0);
  void beginTransmission(int address);
  size_t write(uint8_t data);
  uint8_t endTransmission(bool send_stop);
  uint8_t endTransmission();
  uint8_t requestFrom(int address, int size);
  int read();
};
extern TwoWire Wire;

#endif  // TINYMLOPS_STUB_WIRE_H_
