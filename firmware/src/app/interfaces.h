// The three things the application talks to, as tiny interfaces.
//
// Board builds implement them with the IMU driver, the Arduino Serial port and
// TFLM (src/board/); host tests and the QEMU smoke implement them with fakes.
// Destructors are protected and non-virtual: nothing is ever deleted through
// these interfaces, and bare-metal builds then need no operator delete.
#ifndef TINYMLOPS_APP_INTERFACES_H_
#define TINYMLOPS_APP_INTERFACES_H_

#include <cstdint>

namespace tinymlops {

class Sensor {
 public:
  // Reads one sample: ModelInfo::channel_count values in the configured
  // channel order and raw units (g, deg/s, ...). False when the read failed.
  virtual bool Read(float* values) = 0;

 protected:
  ~Sensor() = default;
};

class LineIO {
 public:
  // Writes one line; the implementation appends "\n".
  virtual void WriteLine(const char* text) = 0;
  // Non-blocking. Returns the next complete received line without its line
  // end, valid until the next call, or nullptr when no line is complete yet.
  // *too_long is set when the line did not fit the receive buffer: its text
  // is then truncated and the caller rejects it.
  virtual const char* ReadLine(bool* too_long) = 0;

 protected:
  ~LineIO() = default;
};

class Inference {
 public:
  // Copies count int8 values into the model input `tensor_index`.
  virtual bool SetInput(int tensor_index, const int8_t* data, int count) = 0;
  virtual bool Invoke() = 0;
  // Copies the count int8 scores of the model's (only) output.
  virtual bool ReadOutput(int8_t* scores, int count) = 0;

 protected:
  ~Inference() = default;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_INTERFACES_H_
