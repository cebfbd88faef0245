// Building a text line in a fixed buffer: no heap, no printf (newlib-nano and
// the Arduino cores differ in what %f does), the same digits on every target.
#ifndef TINYMLOPS_APP_TEXT_H_
#define TINYMLOPS_APP_TEXT_H_

#include <cstdint>

namespace tinymlops {

class TextBuilder {
 public:
  // Writes into buf (capacity bytes, including the terminating NUL).
  TextBuilder(char* buf, int capacity);

  TextBuilder& Clear();
  TextBuilder& Char(char c);
  TextBuilder& Str(const char* s);
  TextBuilder& Str(const char* s, int length);
  TextBuilder& Int(int64_t value);
  TextBuilder& Uint(uint64_t value);
  // Exactly `digits` lowercase hex digits of value (leading zeros kept).
  TextBuilder& Hex(uint32_t value, int digits);
  // Fixed point with `decimals` digits after the point, rounded half away
  // from zero on the value's decimal expansion: 1.5 -> "1.5000" (4), -0.00004
  // -> "0.0000" (never a negative zero). NaN and infinities are written as
  // nan, inf, -inf.
  TextBuilder& Fixed(float value, int decimals);
  // Fixed, then trailing zeros (and a trailing point) removed: 50 -> "50",
  // 62.5 -> "62.5".
  TextBuilder& Compact(float value, int max_decimals);
  // A list joined by `separator`.
  TextBuilder& Join(const char* const* items, int count, char separator);
  TextBuilder& JoinInt8(const int8_t* values, int count, char separator);

  const char* c_str() const { return buf_; }
  int length() const { return length_; }
  // True when something did not fit: the text is truncated.
  bool overflow() const { return overflow_; }
  // Text from `from` (an earlier length()) to the end.
  const char* From(int from) const { return buf_ + from; }

 private:
  char* buf_;
  int capacity_;
  int length_ = 0;
  bool overflow_ = false;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_TEXT_H_
