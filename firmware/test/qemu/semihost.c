/* Arm semihosting for the QEMU smoke: SYS_WRITE0 for output, SYS_EXIT_EXTENDED
 * so the exit status reaches the host (qemu-system-arm ... -semihosting-config
 * enable=on,target=native exits with it). */
#include "smoke_platform.h"

enum {
  kSysWrite0 = 0x04,
  kSysExit = 0x18,
  kSysExitExtended = 0x20,
  kAdpStoppedApplicationExit = 0x20026,
};

static int SemihostCall(int operation, const void* argument) {
  register int r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void SmokeWrite(const char* text) { SemihostCall(kSysWrite0, text); }

void SmokeExit(int status) {
  const int block[2] = {kAdpStoppedApplicationExit, status};
  SemihostCall(kSysExitExtended, block);
  /* A host without SYS_EXIT_EXTENDED: plain exit, status 0 or 1. */
  SemihostCall(kSysExit, (const void*)(status == 0 ? kAdpStoppedApplicationExit : 0x20023));
  for (;;) {
  }
}
