#include "crc32.h"

namespace tinymlops {

namespace {
// Half-byte table: 64 bytes of flash instead of 1 KiB, two lookups a byte.
constexpr uint32_t kNibbleTable[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};
}  // namespace

uint32_t Crc32Update(uint32_t crc, const void* data, size_t length) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < length; ++i) {
    crc ^= bytes[i];
    crc = (crc >> 4) ^ kNibbleTable[crc & 0xfu];
    crc = (crc >> 4) ^ kNibbleTable[crc & 0xfu];
  }
  return ~crc;
}

uint32_t Crc32(const void* data, size_t length) { return Crc32Update(0, data, length); }

}  // namespace tinymlops
