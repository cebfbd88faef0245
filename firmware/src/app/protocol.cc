#include "protocol.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tinymlops {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The next space-separated token at or after *cursor.
bool NextToken(const char** cursor, const char** start, int* length) {
  const char* p = *cursor;
  while (IsSpace(*p)) ++p;
  if (*p == '\0') return false;
  *start = p;
  while (*p != '\0' && !IsSpace(*p)) ++p;
  *length = static_cast<int>(p - *start);
  *cursor = p;
  return true;
}

bool TokenIs(const char* token, int length, const char* word) {
  return static_cast<int>(std::strlen(word)) == length && std::strncmp(token, word, static_cast<size_t>(length)) == 0;
}

bool IsLabelChar(char c, bool first) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '.' || c == '_' || c == '-');
}

bool IsNumberChar(char c) {
  return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
}

// A plain decimal number (no nan/inf/hex), parsed by strtof: the float nearest
// to the decimal text, as numpy's float32 parse gives it.
bool ParseNumber(const char* text, int length, float* value) {
  if (length <= 0 || length > kMaxNumberLength) return false;
  char buf[kMaxNumberLength + 1];
  bool has_digit = false;
  for (int i = 0; i < length; ++i) {
    if (!IsNumberChar(text[i])) return false;
    has_digit = has_digit || (text[i] >= '0' && text[i] <= '9');
    buf[i] = text[i];
  }
  buf[length] = '\0';
  if (!has_digit) return false;
  char* end = nullptr;
  const float parsed = std::strtof(buf, &end);
  if (end != buf + length || !std::isfinite(parsed)) return false;
  *value = parsed;
  return true;
}

bool ParseCount(const char* text, int length, uint32_t* count) {
  if (length <= 0 || length > 9) return false;
  uint32_t value = 0;
  for (int i = 0; i < length; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10u + static_cast<uint32_t>(text[i] - '0');
  }
  *count = value;
  return true;
}

Command Invalid(ParseError error) {
  Command command;
  command.kind = CommandKind::kInvalid;
  command.error = error;
  return command;
}

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kInfer:
      return "infer";
    case Mode::kCollect:
      return "collect";
    case Mode::kVerify:
      return "verify";
  }
  return "?";
}

const char* ParseErrorText(ParseError error) {
  switch (error) {
    case ParseError::kNone:
      return "ok";
    case ParseError::kUnknownCommand:
      return "unknown command (MODE, COLLECT, W)";
    case ParseError::kMissingArgument:
      return "missing argument";
    case ParseError::kExtraArgument:
      return "unexpected extra argument";
    case ParseError::kBadMode:
      return "mode must be infer, collect or verify";
    case ParseError::kBadLabel:
      return "label must be 1-32 of [A-Za-z0-9._-], starting with a letter or digit";
    case ParseError::kBadCount:
      return "count must be a whole number from 1";
    case ParseError::kBadNumber:
      return "value is not a plain finite decimal number";
    case ParseError::kTooManyValues:
      return "too many values";
  }
  return "?";
}

bool IsValidLabel(const char* text, int length) {
  if (length < 1 || length > kMaxLabelLength) return false;
  for (int i = 0; i < length; ++i) {
    if (!IsLabelChar(text[i], i == 0)) return false;
  }
  return true;
}

bool IsValidDeviceId(const char* text) {
  if (text == nullptr) return false;
  const size_t length = std::strlen(text);
  if (length < 1 || length > static_cast<size_t>(kMaxDeviceIdLength)) return false;
  for (size_t i = 0; i < length; ++i) {
    if (!IsLabelChar(text[i], i == 0)) return false;
  }
  return std::strstr(text, "..") == nullptr;
}

Command ParseCommand(const char* line, float* values, int max_values) {
  const char* cursor = line;
  const char* word = nullptr;
  int word_length = 0;
  if (!NextToken(&cursor, &word, &word_length)) return Command{};  // empty line

  const char* arg = nullptr;
  int arg_length = 0;
  const char* extra = nullptr;
  int extra_length = 0;

  if (TokenIs(word, word_length, "MODE")) {
    if (!NextToken(&cursor, &arg, &arg_length)) return Invalid(ParseError::kMissingArgument);
    if (NextToken(&cursor, &extra, &extra_length)) return Invalid(ParseError::kExtraArgument);
    Command command;
    command.kind = CommandKind::kMode;
    if (TokenIs(arg, arg_length, "infer")) {
      command.mode = Mode::kInfer;
    } else if (TokenIs(arg, arg_length, "collect")) {
      command.mode = Mode::kCollect;
    } else if (TokenIs(arg, arg_length, "verify")) {
      command.mode = Mode::kVerify;
    } else {
      return Invalid(ParseError::kBadMode);
    }
    return command;
  }

  if (TokenIs(word, word_length, "COLLECT")) {
    const char* count_text = nullptr;
    int count_length = 0;
    if (!NextToken(&cursor, &arg, &arg_length) || !NextToken(&cursor, &count_text, &count_length)) {
      return Invalid(ParseError::kMissingArgument);
    }
    if (NextToken(&cursor, &extra, &extra_length)) return Invalid(ParseError::kExtraArgument);
    if (!IsValidLabel(arg, arg_length)) return Invalid(ParseError::kBadLabel);
    Command command;
    if (!ParseCount(count_text, count_length, &command.count) || command.count == 0) {
      return Invalid(ParseError::kBadCount);
    }
    command.kind = CommandKind::kCollect;
    std::memcpy(command.label, arg, static_cast<size_t>(arg_length));
    command.label[arg_length] = '\0';
    return command;
  }

  if (TokenIs(word, word_length, "W")) {
    if (!NextToken(&cursor, &arg, &arg_length)) return Invalid(ParseError::kMissingArgument);
    if (NextToken(&cursor, &extra, &extra_length)) return Invalid(ParseError::kExtraArgument);
    Command command;
    command.kind = CommandKind::kWindow;
    const char* p = arg;
    const char* end = arg + arg_length;
    while (true) {
      const char* comma = p;
      while (comma < end && *comma != ',') ++comma;
      if (command.value_count >= max_values) {
        command.kind = CommandKind::kInvalid;
        command.error = ParseError::kTooManyValues;
        return command;
      }
      float value = 0.0f;
      if (!ParseNumber(p, static_cast<int>(comma - p), &value)) {
        command.kind = CommandKind::kInvalid;
        command.error = ParseError::kBadNumber;
        command.bad_value = command.value_count;
        return command;
      }
      values[command.value_count++] = value;
      if (comma == end) break;
      p = comma + 1;
    }
    return command;
  }

  return Invalid(ParseError::kUnknownCommand);
}

void FormatReady(TextBuilder& out, const ModelInfo& model, const char* device_id, Mode mode) {
  out.Clear().Str("READY device=").Str(device_id);
  out.Str(" mode=").Str(ModeName(mode));
  out.Str(" model=").Str(model.sha256, 8);
  out.Str(" window=").Int(model.window_length);
  out.Str(" rate=").Compact(model.sample_rate_hz, 3);
  out.Str(" channels=").Join(model.channel_names, model.channel_count, ',');
  out.Str(" classes=").Join(model.class_names, model.class_count, ',');
}

void FormatPred(TextBuilder& out, uint32_t seq, const ModelInfo& model, const TopClass& top,
                const int8_t* scores) {
  out.Clear().Str("PRED ").Uint(seq).Char(' ');
  out.Str(top.index >= 0 && top.index < model.class_count ? model.class_names[top.index] : "?");
  out.Char(' ').Fixed(top.score, kScoreDecimals).Char(' ');
  out.JoinInt8(scores, model.class_count, ',');
}

void FormatWin(TextBuilder& out, uint32_t window_id, const char* label) {
  out.Clear().Str("WIN ").Uint(window_id).Char(' ').Str(label);
}

void FormatSample(TextBuilder& out, uint32_t t_ms, const float* values, int channel_count) {
  out.Clear().Str("S ").Uint(t_ms);
  for (int c = 0; c < channel_count; ++c) out.Char(',').Fixed(values[c], kSampleDecimals);
}

void FormatEnd(TextBuilder& out, uint32_t window_id, uint32_t crc) {
  out.Clear().Str("END ").Uint(window_id).Char(' ').Hex(crc, 8);
}

void FormatY(TextBuilder& out, const int8_t* scores, int count) {
  out.Clear().Str("Y ").JoinInt8(scores, count, ',');
}

void FormatErr(TextBuilder& out, const char* text) { out.Clear().Str("ERR ").Str(text); }

void FormatLog(TextBuilder& out, const char* text) { out.Clear().Str("# ").Str(text); }

}  // namespace tinymlops
