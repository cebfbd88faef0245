#include <cstdint>
#include <limits>

#include "check.h"
#include "text.h"

using tinymlops::TextBuilder;

namespace {
std::string Fixed(float value, int decimals) {
  char buf[64];
  TextBuilder out(buf, sizeof(buf));
  out.Fixed(value, decimals);
  return out.c_str();
}
std::string Compact(float value, int decimals) {
  char buf[64];
  TextBuilder out(buf, sizeof(buf));
  out.Compact(value, decimals);
  return out.c_str();
}
}  // namespace

TEST(fixed_point_text) {
  CHECK_EQ(Fixed(1.5f, 4), "1.5000");
  CHECK_EQ(Fixed(0.0f, 4), "0.0000");
  CHECK_EQ(Fixed(-0.0f, 4), "0.0000");
  CHECK_EQ(Fixed(-0.00004f, 4), "0.0000");
  CHECK_EQ(Fixed(-0.00006f, 4), "-0.0001");
  CHECK_EQ(Fixed(2000.0f, 4), "2000.0000");
  CHECK_EQ(Fixed(-1999.9999f, 4), "-1999.9999");
  CHECK_EQ(Fixed(0.1f, 4), "0.1000");
  CHECK_EQ(Fixed(-1.25f, 1), "-1.3");  // half away from zero
  CHECK_EQ(Fixed(0.99996f, 4), "1.0000");
  CHECK_EQ(Fixed(12.5f, 0), "13");
  CHECK_EQ(Fixed(1.0e20f, 4), "100000002004087734272");
  CHECK_EQ(Fixed(-std::numeric_limits<float>::max(), 4), "-340282346638528859811704183484516925440");
  CHECK_EQ(Fixed(1.0e15f, 2), "999999986991104.00");  // just below 1e15
  CHECK_EQ(Fixed(2.0e15f, 2), "1999999973982208");    // above: an integer, no decimals
  CHECK_EQ(Fixed(std::numeric_limits<float>::quiet_NaN(), 4), "nan");
  CHECK_EQ(Fixed(std::numeric_limits<float>::infinity(), 4), "inf");
  CHECK_EQ(Fixed(-std::numeric_limits<float>::infinity(), 4), "-inf");
}

TEST(compact_text_drops_trailing_zeros) {
  CHECK_EQ(Compact(50.0f, 3), "50");
  CHECK_EQ(Compact(62.5f, 3), "62.5");
  CHECK_EQ(Compact(0.1f, 3), "0.1");
  CHECK_EQ(Compact(0.0f, 3), "0");
  CHECK_EQ(Compact(-0.0001f, 3), "0");
  CHECK_EQ(Compact(100.0f, 0), "100");
}

TEST(integers_and_hex) {
  char buf[64];
  TextBuilder out(buf, sizeof(buf));
  out.Int(0).Char(' ').Int(-42).Char(' ').Int(std::numeric_limits<int64_t>::min()).Char(' ').Uint(18446744073709551615ull);
  CHECK_EQ(out.c_str(), "0 -42 -9223372036854775808 18446744073709551615");
  out.Clear().Hex(0xcbf43926u, 8).Char(' ').Hex(1u, 8);
  CHECK_EQ(out.c_str(), "cbf43926 00000001");
  const int8_t values[3] = {-128, 0, 127};
  out.Clear().JoinInt8(values, 3, ',');
  CHECK_EQ(out.c_str(), "-128,0,127");
  const char* names[2] = {"ax", "ay"};
  out.Clear().Join(names, 2, ',');
  CHECK_EQ(out.c_str(), "ax,ay");
}

TEST(text_builder_truncates_and_reports_overflow) {
  char buf[5];
  TextBuilder out(buf, sizeof(buf));
  out.Str("hell");
  CHECK(!out.overflow());
  out.Str("o");
  CHECK(out.overflow());
  CHECK_EQ(out.c_str(), "hell");
  CHECK_EQ(out.length(), 4);
  out.Clear().Str("ab", 1);
  CHECK(!out.overflow());
  CHECK_EQ(out.c_str(), "a");
  CHECK_EQ(out.From(0), "a");
}
