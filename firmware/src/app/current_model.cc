#include "current_model.h"

#include "model_settings.h"  // generated: from the build's model folder

namespace tinymlops {

namespace {

namespace ms = model_settings;

constexpr int kT = ms::kWindowLength;
constexpr int kC = ms::kChannelCount;
constexpr int kK = ms::kClassCount;

constexpr int StrLen(const char* s) {
  int n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

constexpr int NamesLength(const char* const* names, int count) {
  int total = 0;
  for (int i = 0; i < count; ++i) total += StrLen(names[i]) + 1;
  return total;
}

// At least RequiredLineCapacity(): the sum of the bounds it takes the max of.
constexpr int kLineCapacity = 96 + 64 + NamesLength(ms::kChannelNames, kC) + NamesLength(ms::kClassNames, kK) +
                              32 + NamesLength(ms::kClassNames, kK) + 5 * kK + 16 + 22 * kC + 56 + 160 + 1;
constexpr int kLineInCapacity = 16 + kT * kC * 17;

float g_ring_values[kT * kC];
uint32_t g_ring_times[kT];
float g_window[kT * kC];
int8_t g_input[kT * ms::kMaxInputChannels];
int8_t g_scores[kK];
char g_line[kLineCapacity];
char g_line_in[kLineInCapacity];

InputGroup g_groups[ms::kInputCount];
ModelInfo g_model_info;
bool g_filled = false;

void Fill() {
  for (int i = 0; i < ms::kInputCount; ++i) {
    const ms::InputSpec& spec = ms::kInputs[i];
    g_groups[i] = InputGroup{spec.name, spec.tensor_index, spec.channel_count, spec.channels, spec.scale,
                             spec.zero_point};
  }
  g_model_info = ModelInfo{ms::kModelSha256, kT,          ms::kSampleRateHz, kC,
                           ms::kChannelNames, ms::kChannelUnits, ms::kInputCount, g_groups,
                           kK,                ms::kClassNames,  ms::kOutputScale, ms::kOutputZeroPoint};
  g_filled = true;
}

}  // namespace

const ModelInfo& CurrentModel() {
  if (!g_filled) Fill();
  return g_model_info;
}

AppBuffers CurrentBuffers() {
  return AppBuffers{g_ring_values, g_ring_times, kT,       g_window, kT * kC, g_input, kT * ms::kMaxInputChannels,
                    g_scores,      kK,           g_line,   kLineCapacity};
}

char* LineInBuffer() { return g_line_in; }
int LineInCapacity() { return kLineInCapacity; }

}  // namespace tinymlops
