// Compile-check stub of the Arduino core API the firmware uses. Not a core.
#ifndef TINYMLOPS_STUB_ARDUINO_H_
#define TINYMLOPS_STUB_ARDUINO_H_

#include <cstddef>
#include <cstdint>

class StubSerial {
 public:
  void begin(unsigned long baud);
  operator bool() const;
  int available();
  int read();
  size_t write(uint8_t byte);
  size_t write(const uint8_t* buffer, size_t size);
  size_t print(const char* text);
};
extern StubSerial Serial;

unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);

#if defined(TINYMLOPS_BOARD_ESP32)
class EspClass {
 public:
  uint64_t getEfuseMac();
};
extern EspClass ESP;
#endif

void setup();
void loop();

#endif  // TINYMLOPS_STUB_ARDUINO_H_
