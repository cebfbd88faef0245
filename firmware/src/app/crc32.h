// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the same value as
// Python's zlib.crc32 and binascii.crc32. crc32("123456789") == 0xcbf43926.
#ifndef TINYMLOPS_APP_CRC32_H_
#define TINYMLOPS_APP_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace tinymlops {

// Incremental: Crc32Update(Crc32Update(0, a), b) == Crc32 of a followed by b,
// like zlib.crc32(b, zlib.crc32(a)). Start from 0.
uint32_t Crc32Update(uint32_t crc, const void* data, size_t length);
uint32_t Crc32(const void* data, size_t length);

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_CRC32_H_
