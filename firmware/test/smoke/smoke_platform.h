// Output and exit for the smoke test: semihosting on the QEMU target
// (test/qemu/semihost.c), stdio on the host (smoke/host_platform.cc).
#ifndef TINYMLOPS_SMOKE_PLATFORM_H_
#define TINYMLOPS_SMOKE_PLATFORM_H_

#ifdef __cplusplus
extern "C" {
#endif

void SmokeWrite(const char* text);
void SmokeExit(int status) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif  // TINYMLOPS_SMOKE_PLATFORM_H_
