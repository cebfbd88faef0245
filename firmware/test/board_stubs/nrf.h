// Compile-check stub of the nRF52840 FICR register block. Not the Nordic header.
#ifndef TINYMLOPS_STUB_NRF_H_
#define TINYMLOPS_STUB_NRF_H_

#include <cstdint>

struct NRF_FICR_Type {
  uint32_t DEVICEID[2];
};
extern NRF_FICR_Type* const kStubFicr;
#define NRF_FICR kStubFicr

#endif  // TINYMLOPS_STUB_NRF_H_
