#include <cstring>

#include "check.h"
#include "crc32.h"

using tinymlops::Crc32;
using tinymlops::Crc32Update;

// Values from Python's zlib.crc32.
TEST(crc32_matches_zlib) {
  CHECK_EQ(Crc32("123456789", 9), 0xcbf43926u);
  CHECK_EQ(Crc32("", 0), 0u);
  const char* fox = "The quick brown fox jumps over the lazy dog";
  CHECK_EQ(Crc32(fox, std::strlen(fox)), 0x414fa339u);
  unsigned char bytes[256];
  for (int i = 0; i < 256; ++i) bytes[i] = static_cast<unsigned char>(i);
  CHECK_EQ(Crc32(bytes, sizeof(bytes)), 0x29058c73u);
  // One S payload "123456789" (CRC over "123456789\n"): zlib says e0117757.
  // (PROTOCOL.md's test vector "32d70693" for it disagrees with zlib.crc32.)
  CHECK_EQ(Crc32("123456789\n", 10), 0xe0117757u);
}

TEST(crc32_of_protocol_md_example_window) {
  // PROTOCOL.md section 3.4: three S payloads give END 17 6efa7903.
  const char* payloads = "1000,0.0123,-0.9871,0.0415\n1020,0.0131,-0.9866,0.0402\n1040,0.0125,-0.9874,0.0399\n";
  CHECK_EQ(Crc32(payloads, std::strlen(payloads)), 0x6efa7903u);
}

TEST(crc32_is_incremental) {
  const uint32_t part = Crc32Update(0, "12345", 5);
  CHECK_EQ(Crc32Update(part, "6789", 4), 0xcbf43926u);
  uint32_t byte_by_byte = 0;
  for (const char* p = "123456789"; *p != '\0'; ++p) byte_by_byte = Crc32Update(byte_by_byte, p, 1);
  CHECK_EQ(byte_by_byte, 0xcbf43926u);
}
