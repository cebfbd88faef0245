#if defined(ARDUINO)

#include "arduino_line_io.h"

#include <Arduino.h>

#include <cstring>

namespace tinymlops {

void ArduinoLineIO::WriteLine(const char* text) {
  Serial.write(reinterpret_cast<const uint8_t*>(text), std::strlen(text));
  Serial.write(static_cast<uint8_t>('\n'));
}

const char* ArduinoLineIO::ReadLine(bool* too_long) {
  while (Serial.available() > 0) {
    const int c = Serial.read();
    if (c < 0) break;
    if (reader_.Feed(static_cast<char>(c))) {
      *too_long = reader_.too_long();
      return reader_.line();
    }
  }
  return nullptr;
}

}  // namespace tinymlops

#endif  // ARDUINO
