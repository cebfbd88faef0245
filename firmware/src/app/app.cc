#include "app.h"

#include <cmath>
#include <cstring>

#include "crc32.h"
#include "quantize.h"

namespace tinymlops {

namespace {

// Longest text of a formatted value: sign, 15 integer digits, point, decimals.
constexpr int kMaxValueLength = 1 + 15 + 1 + kSampleDecimals;

int NamesLength(const char* const* names, int count) {
  int total = 0;
  for (int i = 0; i < count; ++i) total += static_cast<int>(std::strlen(names[i])) + 1;
  return total;
}

int LongestName(const char* const* names, int count) {
  int longest = 0;
  for (int i = 0; i < count; ++i) {
    const int length = static_cast<int>(std::strlen(names[i]));
    if (length > longest) longest = length;
  }
  return longest;
}

int Max(int a, int b) { return a > b ? a : b; }

// Log the first failure, then every 1000th, so a broken sensor does not flood the port.
bool ShouldReport(uint32_t count) { return count == 1 || count % 1000 == 0; }

}  // namespace

int RequiredLineCapacity(const ModelInfo& model) {
  const int ready = 96 + kMaxDeviceIdLength + NamesLength(model.channel_names, model.channel_count) +
                    NamesLength(model.class_names, model.class_count);
  const int pred = 32 + LongestName(model.class_names, model.class_count) + 5 * model.class_count;
  const int sample = 16 + (kMaxValueLength + 1) * model.channel_count;
  const int win = 24 + kMaxLabelLength;
  const int err = 160;  // the longest ERR / log text this file writes
  return Max(Max(Max(ready, pred), Max(sample, win)), err) + 1;
}

App::App(const ModelInfo& model, const AppBuffers& buffers, Sensor* sensor, LineIO* io, Inference* inference,
         const char* device_id, const AppOptions& options)
    : model_(model),
      buffers_(buffers),
      sensor_(sensor),
      io_(io),
      inference_(inference),
      device_id_(device_id),
      options_(options),
      out_(buffers.line, buffers.line_capacity),
      ring_(buffers.ring_values, buffers.ring_times, buffers.ring_capacity, model.channel_count),
      assembler_(&ring_, model.window_length,
                 options.infer_stride > 0 ? options.infer_stride : model.window_length / 2) {}

const char* App::CheckSetup() {
  if (buffers_.line == nullptr || buffers_.line_capacity < 64) return "line buffer too small";
  if (model_.window_length < 1 || model_.channel_count < 1 || model_.class_count < 1 || model_.input_count < 1) {
    return "model has no window, channel, class or input";
  }
  if (!schedule_.SetRate(model_.sample_rate_hz)) return "sample rate is not a positive number";
  int largest_group = 0;
  for (int g = 0; g < model_.input_count; ++g) {
    const InputGroup& group = model_.inputs[g];
    if (group.channel_count < 1 || !(group.scale > 0.0f) || !std::isfinite(group.scale)) {
      return "an input group has no channel or no positive scale";
    }
    for (int j = 0; j < group.channel_count; ++j) {
      if (group.channels[j] < 0 || group.channels[j] >= model_.channel_count) {
        return "an input group names a channel the window does not have";
      }
    }
    largest_group = Max(largest_group, group.channel_count);
  }
  const int window_values = model_.window_length * model_.channel_count;
  if (buffers_.ring_capacity < model_.window_length) return "ring buffer holds less than a window";
  if (buffers_.window_capacity < window_values) return "window buffer smaller than T * C";
  if (buffers_.input_capacity < model_.window_length * largest_group) return "input buffer smaller than a group";
  if (buffers_.scores_capacity < model_.class_count) return "score buffer smaller than the class count";
  if (buffers_.line_capacity < RequiredLineCapacity(model_)) return "line buffer too small for this model";
  if (device_id_ == nullptr || !IsValidDeviceId(device_id_)) {
    return "device id must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit";
  }
  return nullptr;
}

bool App::Begin(uint32_t now_us, Mode mode) {
  const uint64_t now = clock_.Update(now_us);
  setup_error_ = CheckSetup();
  if (setup_error_ != nullptr) {
    out_.Clear().Str("# setup error: ").Str(setup_error_);
    Write();
    return false;
  }
  EnterMode(mode, now);
  return true;
}

void App::Log(const char* text) {
  FormatLog(out_, text);
  Write();
}

void App::Write() {
  if (out_.overflow()) {
    out_.Clear().Str("# output line too long for the line buffer");
  }
  io_->WriteLine(out_.c_str());
}

void App::Err(const char* text) {
  FormatErr(out_, text);
  Write();
}

void App::Tick(uint32_t now_us) {
  const uint64_t now = clock_.Update(now_us);
  for (int i = 0; i < options_.max_lines_per_tick; ++i) {
    bool too_long = false;
    const char* line = io_->ReadLine(&too_long);
    if (line == nullptr) break;
    HandleLine(line, too_long, now);
  }
  if (!ready()) return;
  if (mode_ == Mode::kInfer && sensor_ != nullptr) {
    if (schedule_.Due(now)) SampleInfer(now);
  } else if (mode_ == Mode::kCollect && collect_remaining_ > 0) {
    if (schedule_.Due(now)) SampleCollect(now);
  }
}

void App::HandleLine(const char* line, bool too_long, uint64_t now_us) {
  if (too_long) {
    Err("line too long");
    return;
  }
  if (!ready()) {
    const Command ignored = ParseCommand(line, nullptr, 0);
    if (ignored.kind == CommandKind::kEmpty) return;
    out_.Clear().Str("ERR not ready: ").Str(setup_error_);
    Write();
    return;
  }
  const Command command = ParseCommand(line, buffers_.window, buffers_.window_capacity);
  switch (command.kind) {
    case CommandKind::kEmpty:
      return;
    case CommandKind::kInvalid:
      out_.Clear().Str("ERR ").Str(ParseErrorText(command.error));
      if (command.error == ParseError::kBadNumber) out_.Str(" (value ").Int(command.bad_value).Char(')');
      Write();
      return;
    case CommandKind::kMode:
      EnterMode(command.mode, now_us);
      return;
    case CommandKind::kCollect:
      StartCollect(command, now_us);
      return;
    case CommandKind::kWindow: {
      if (mode_ != Mode::kVerify) {
        Err("W needs MODE verify");
        return;
      }
      const int expected = model_.window_length * model_.channel_count;
      if (command.value_count != expected) {
        out_.Clear().Str("ERR W needs ").Int(expected).Str(" values (T x C), got ").Int(command.value_count);
        Write();
        return;
      }
      if (!RunModel(buffers_.window)) {
        Err("inference failed");
        return;
      }
      FormatY(out_, buffers_.scores, model_.class_count);
      Write();
      return;
    }
  }
}

void App::EnterMode(Mode mode, uint64_t now_us) {
  if (collect_remaining_ > 0) {
    out_.Clear().Str("# collect aborted: window ").Uint(window_id_).Str(" has no END");
    Write();
  }
  collect_remaining_ = 0;
  samples_in_window_ = 0;
  seq_ = 0;  // PRED counts the windows since the mode was entered
  mode_ = mode;
  assembler_.Reset();
  schedule_.Start(now_us);
  FormatReady(out_, model_, device_id_, mode_);
  Write();
  if (mode_ == Mode::kInfer && sensor_ == nullptr) Log("no sensor: infer mode has nothing to sample");
}

void App::StartCollect(const Command& command, uint64_t now_us) {
  if (mode_ != Mode::kCollect) {
    Err("COLLECT needs MODE collect");
    return;
  }
  if (collect_remaining_ > 0) {
    Err("busy: a collection is running (MODE collect aborts it)");
    return;
  }
  if (sensor_ == nullptr) {
    Err("no sensor on this board: COLLECT cannot sample");
    return;
  }
  bool known = false;
  for (int k = 0; k < model_.class_count; ++k) known = known || std::strcmp(command.label, model_.class_names[k]) == 0;
  if (!known) {
    out_.Clear().Str("ERR label must be one of the classes: ").Join(model_.class_names, model_.class_count, ',');
    Write();
    return;
  }
  if (command.count > options_.max_collect_count) {
    out_.Clear().Str("ERR count must be at most ").Uint(options_.max_collect_count);
    Write();
    return;
  }
  std::memcpy(collect_label_, command.label, sizeof(collect_label_));
  collect_remaining_ = command.count;
  schedule_.Start(now_us);
  StartWindow();
}

void App::StartWindow() {
  window_id_ = next_window_id_++;
  samples_in_window_ = 0;
  crc_ = 0;
  FormatWin(out_, window_id_, collect_label_);
  Write();
}

bool App::ReadSensor(float* sample) {
  if (sensor_->Read(sample)) return true;
  ++sensor_failures_;
  if (ShouldReport(sensor_failures_)) {
    out_.Clear().Str("# sensor read failed (").Uint(sensor_failures_).Str(" times)");
    Write();
  }
  return false;
}

void App::SampleInfer(uint64_t now_us) {
  float* sample = buffers_.window;  // scratch: the window is rebuilt from the ring below
  if (!ReadSensor(sample)) return;
  if (!assembler_.Add(static_cast<uint32_t>(now_us / 1000u), sample)) return;
  assembler_.CopyWindow(buffers_.window);
  if (!RunModel(buffers_.window)) {
    ++inference_failures_;
    if (ShouldReport(inference_failures_)) {
      out_.Clear().Str("# inference failed (").Uint(inference_failures_).Str(" times)");
      Write();
    }
    return;
  }
  const TopClass top =
      TopClassOf(buffers_.scores, model_.class_count, model_.output_scale, model_.output_zero_point);
  FormatPred(out_, ++seq_, model_, top, buffers_.scores);
  Write();
}

void App::SampleCollect(uint64_t now_us) {
  float* sample = buffers_.window;
  if (!ReadSensor(sample)) return;
  FormatSample(out_, static_cast<uint32_t>(now_us / 1000u), sample, model_.channel_count);
  if (!out_.overflow()) {
    crc_ = Crc32Update(crc_, out_.From(2), static_cast<size_t>(out_.length() - 2));
    crc_ = Crc32Update(crc_, "\n", 1);
  }
  Write();
  if (++samples_in_window_ < model_.window_length) return;
  FormatEnd(out_, window_id_, crc_);
  Write();
  ++windows_collected_;
  if (--collect_remaining_ > 0) {
    StartWindow();
  } else {
    out_.Clear().Str("# collect done: ").Uint(windows_collected_).Str(" windows since boot");
    Write();
  }
}

bool App::RunModel(const float* window) {
  if (inference_ == nullptr) return false;
  for (int g = 0; g < model_.input_count; ++g) {
    const InputGroup& group = model_.inputs[g];
    QuantizeGroup(window, model_.window_length, model_.channel_count, group, buffers_.input);
    if (!inference_->SetInput(group.tensor_index, buffers_.input, model_.window_length * group.channel_count)) {
      return false;
    }
  }
  return inference_->Invoke() && inference_->ReadOutput(buffers_.scores, model_.class_count);
}

}  // namespace tinymlops
