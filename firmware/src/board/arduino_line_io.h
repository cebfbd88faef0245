// LineIO over the Arduino Serial port (USB CDC on the Nano 33 BLE, UART0 on
// the ESP32 DevKit). Board builds only.
#ifndef TINYMLOPS_BOARD_ARDUINO_LINE_IO_H_
#define TINYMLOPS_BOARD_ARDUINO_LINE_IO_H_

#include "../app/interfaces.h"
#include "../app/line_reader.h"

namespace tinymlops {

class ArduinoLineIO final : public LineIO {
 public:
  ArduinoLineIO(char* buf, int capacity) : reader_(buf, capacity) {}
  void WriteLine(const char* text) override;
  const char* ReadLine(bool* too_long) override;

 private:
  LineReader reader_;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_BOARD_ARDUINO_LINE_IO_H_
