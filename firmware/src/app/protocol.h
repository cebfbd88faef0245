// The serial line protocol, as firmware/PROTOCOL.md defines it (that page is
// the authority; this is a summary): ASCII lines ending in "\n".
//
// Board -> host
//   # <text>                                   a log line
//   READY device=<id> mode=<m> model=<8 hex> window=<T> rate=<Hz> channels=<c1,...> classes=<k1,...>
//   PRED <seq> <label> <score> <s1,...,sK>     infer mode, one per window
//   WIN <window_id> <label>                    collect mode: a window starts,
//   S <t_ms>,<v1>,...,<vC>                     then exactly T samples,
//   END <window_id> <crc>                      then CRC-32 of the S payloads
//   Y <s1,...,sK>                              verify mode: answer to W
//   ERR <text>                                 a rejected command
// Host -> board
//   MODE <infer|collect|verify>
//   COLLECT <label> <count>
//   W <v1,...,vT*C>                            a raw window, row-major T x C
//
// Parsing never modifies the line and never allocates; formatting writes into
// a TextBuilder.
#ifndef TINYMLOPS_APP_PROTOCOL_H_
#define TINYMLOPS_APP_PROTOCOL_H_

#include <cstdint>

#include "model_info.h"
#include "quantize.h"
#include "text.h"

namespace tinymlops {

enum class Mode : uint8_t { kInfer, kCollect, kVerify };

const char* ModeName(Mode mode);

constexpr int kMaxLabelLength = 32;
// Longest number token accepted in a W line.
constexpr int kMaxNumberLength = 31;
// Digits after the point in S lines (0.1 mg, 0.0001 deg/s).
constexpr int kSampleDecimals = 4;
// Digits after the point of the PRED score.
constexpr int kScoreDecimals = 4;

enum class CommandKind : uint8_t { kEmpty, kMode, kCollect, kWindow, kInvalid };

enum class ParseError : uint8_t {
  kNone,
  kUnknownCommand,
  kMissingArgument,
  kExtraArgument,
  kBadMode,
  kBadLabel,
  kBadCount,
  kBadNumber,
  kTooManyValues,
};

const char* ParseErrorText(ParseError error);

struct Command {
  CommandKind kind = CommandKind::kEmpty;
  ParseError error = ParseError::kNone;
  Mode mode = Mode::kInfer;             // MODE
  char label[kMaxLabelLength + 1] = {};  // COLLECT
  uint32_t count = 0;                    // COLLECT
  int value_count = 0;                   // W: values written to the caller's buffer
  int bad_value = -1;                    // W: 0-based index of the value that did not parse
};

// A label is 1..kMaxLabelLength characters of [A-Za-z0-9._-], starting with a
// letter or digit (it travels through the upload CSV unquoted).
bool IsValidLabel(const char* text, int length);
// A device id: the same characters, 1..kMaxDeviceIdLength long (the upload
// contract's SAFE_DEVICE_ID), never containing "..".
constexpr int kMaxDeviceIdLength = 64;
bool IsValidDeviceId(const char* text);

// Parses one received line (without its "\n"). W values go to `values`
// (at most max_values); the caller checks the count against T * C.
Command ParseCommand(const char* line, float* values, int max_values);

// Formatting: each call clears `out` and writes one line without "\n".
void FormatReady(TextBuilder& out, const ModelInfo& model, const char* device_id, Mode mode);
void FormatPred(TextBuilder& out, uint32_t seq, const ModelInfo& model, const TopClass& top,
                const int8_t* scores);
void FormatWin(TextBuilder& out, uint32_t window_id, const char* label);
// "S " followed by the payload; the payload (what the CRC covers, without the
// "\n") is out.From(2).
void FormatSample(TextBuilder& out, uint32_t t_ms, const float* values, int channel_count);
void FormatEnd(TextBuilder& out, uint32_t window_id, uint32_t crc);
void FormatY(TextBuilder& out, const int8_t* scores, int count);
void FormatErr(TextBuilder& out, const char* text);
void FormatLog(TextBuilder& out, const char* text);

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_PROTOCOL_H_
