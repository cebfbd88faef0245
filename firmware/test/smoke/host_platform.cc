// The smoke test's output and exit on the host (make smoke-native).
#include <cstdio>
#include <cstdlib>

#include "smoke_platform.h"

extern "C" void SmokeWrite(const char* text) { std::fputs(text, stdout); }

extern "C" void SmokeExit(int status) {
  std::fflush(stdout);
  std::exit(status);
}
