#include "text.h"

#include <cmath>

namespace tinymlops {

namespace {
constexpr uint64_t kPow10[] = {1ull,         10ull,         100ull,         1000ull,
                               10000ull,     100000ull,     1000000ull,     10000000ull,
                               100000000ull, 1000000000ull, 10000000000ull, 100000000000ull};
constexpr int kMaxDecimals = 9;
}  // namespace

TextBuilder::TextBuilder(char* buf, int capacity) : buf_(buf), capacity_(capacity) {
  if (capacity_ > 0) buf_[0] = '\0';
}

TextBuilder& TextBuilder::Clear() {
  length_ = 0;
  overflow_ = false;
  if (capacity_ > 0) buf_[0] = '\0';
  return *this;
}

TextBuilder& TextBuilder::Char(char c) {
  if (length_ + 1 < capacity_) {
    buf_[length_++] = c;
    buf_[length_] = '\0';
  } else {
    overflow_ = true;
  }
  return *this;
}

TextBuilder& TextBuilder::Str(const char* s) {
  while (*s != '\0') Char(*s++);
  return *this;
}

TextBuilder& TextBuilder::Str(const char* s, int length) {
  for (int i = 0; i < length && s[i] != '\0'; ++i) Char(s[i]);
  return *this;
}

TextBuilder& TextBuilder::Uint(uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) Char(digits[--n]);
  return *this;
}

TextBuilder& TextBuilder::Int(int64_t value) {
  if (value < 0) {
    Char('-');
    return Uint(static_cast<uint64_t>(-(value + 1)) + 1u);  // no overflow at INT64_MIN
  }
  return Uint(static_cast<uint64_t>(value));
}

TextBuilder& TextBuilder::Hex(uint32_t value, int digits) {
  static const char kDigits[] = "0123456789abcdef";
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) Char(kDigits[(value >> shift) & 0xfu]);
  return *this;
}

TextBuilder& TextBuilder::Fixed(float value, int decimals) {
  if (std::isnan(value)) return Str("nan");
  if (std::isinf(value)) return Str(value < 0 ? "-inf" : "inf");
  if (decimals < 0) decimals = 0;
  if (decimals > kMaxDecimals) decimals = kMaxDecimals;
  const double magnitude = std::fabs(static_cast<double>(value));
  const bool negative = std::signbit(value);
  if (magnitude >= 1.0e15) {
    // Beyond what a sensor gives: the exact integer (a float this large has no
    // fraction), as m * 2^e with m < 2^24, in decimal digits, no decimals.
    int exponent = 0;
    const float mantissa = std::frexp(std::fabs(value), &exponent);
    uint32_t m = static_cast<uint32_t>(std::ldexp(mantissa, 24));
    uint8_t digits[48] = {};  // little-endian decimal digits
    int n = 0;
    while (m != 0) {
      digits[n++] = static_cast<uint8_t>(m % 10u);
      m /= 10u;
    }
    for (int e = exponent - 24; e > 0; --e) {  // times 2, exponent - 24 times
      int carry = 0;
      for (int i = 0; i < n; ++i) {
        const int d = digits[i] * 2 + carry;
        digits[i] = static_cast<uint8_t>(d % 10);
        carry = d / 10;
      }
      if (carry != 0 && n < 48) digits[n++] = static_cast<uint8_t>(carry);
    }
    if (negative) Char('-');
    while (n > 0) Char(static_cast<char>('0' + digits[--n]));
    return *this;
  }
  // magnitude * 10^decimals < 1e24 would overflow uint64 at 9 decimals; limit.
  while (decimals > 0 && magnitude * static_cast<double>(kPow10[decimals]) >= 1.8e19) --decimals;
  const uint64_t scaled =
      static_cast<uint64_t>(std::llround(magnitude * static_cast<double>(kPow10[decimals])));
  if (negative && scaled != 0) Char('-');  // no "-0.0000"
  Uint(scaled / kPow10[decimals]);
  if (decimals > 0) {
    Char('.');
    uint64_t fraction = scaled % kPow10[decimals];
    for (int d = decimals - 1; d >= 0; --d) {
      Char(static_cast<char>('0' + (fraction / kPow10[d]) % 10));
    }
  }
  return *this;
}

TextBuilder& TextBuilder::Compact(float value, int max_decimals) {
  const int start = length_;
  Fixed(value, max_decimals);
  if (overflow_) return *this;
  bool has_point = false;
  for (int i = start; i < length_; ++i) has_point = has_point || buf_[i] == '.';
  if (!has_point) return *this;
  while (length_ > start && buf_[length_ - 1] == '0') --length_;
  if (length_ > start && buf_[length_ - 1] == '.') --length_;
  buf_[length_] = '\0';
  return *this;
}

TextBuilder& TextBuilder::Join(const char* const* items, int count, char separator) {
  for (int i = 0; i < count; ++i) {
    if (i > 0) Char(separator);
    Str(items[i]);
  }
  return *this;
}

TextBuilder& TextBuilder::JoinInt8(const int8_t* values, int count, char separator) {
  for (int i = 0; i < count; ++i) {
    if (i > 0) Char(separator);
    Int(values[i]);
  }
  return *this;
}

}  // namespace tinymlops
