// Fake sensor, serial port and inference for the host tests, and a small
// fake model (T=4, C=3, two input groups, three classes).
#ifndef TINYMLOPS_TEST_FAKES_H_
#define TINYMLOPS_TEST_FAKES_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "app.h"
#include "interfaces.h"
#include "model_info.h"

namespace fakes {

// Sample n, channel c: n + c / 10 (so every value is recognisable).
inline float SampleValue(int n, int c) { return static_cast<float>(n) + static_cast<float>(c) / 10.0f; }

class FakeSensor final : public tinymlops::Sensor {
 public:
  explicit FakeSensor(int channels) : channels_(channels) {}
  bool Read(float* values) override {
    if (fail) return false;
    for (int c = 0; c < channels_; ++c) values[c] = SampleValue(reads, c);
    ++reads;
    return true;
  }
  int reads = 0;
  bool fail = false;

 private:
  int channels_;
};

class FakeLineIO final : public tinymlops::LineIO {
 public:
  void WriteLine(const char* text) override { output.emplace_back(text); }
  const char* ReadLine(bool* too_long) override {
    if (input.empty()) return nullptr;
    current_ = input.front();
    input.pop_front();
    *too_long = current_.size() > max_line;
    if (*too_long) current_.resize(max_line);
    return current_.c_str();
  }
  // Output lines since the last call.
  std::vector<std::string> Take() {
    std::vector<std::string> lines;
    lines.swap(output);
    return lines;
  }
  std::deque<std::string> input;
  std::vector<std::string> output;
  size_t max_line = 4096;

 private:
  std::string current_;
};

class FakeInference final : public tinymlops::Inference {
 public:
  bool SetInput(int tensor_index, const int8_t* data, int count) override {
    if (fail_set) return false;
    inputs[tensor_index].assign(data, data + count);
    return true;
  }
  bool Invoke() override {
    ++invokes;
    return !fail_invoke;
  }
  bool ReadOutput(int8_t* out, int count) override {
    if (static_cast<int>(scores.size()) != count) return false;
    for (int k = 0; k < count; ++k) out[k] = scores[static_cast<size_t>(k)];
    return true;
  }
  std::map<int, std::vector<int8_t>> inputs;
  std::vector<int8_t> scores = {-128, 127, -100};
  int invokes = 0;
  bool fail_set = false;
  bool fail_invoke = false;
};

// The fake model: ax, ay (g) and gx (deg/s); group "in_g" (ay, ax) feeds
// tensor 1, group "in_deg_s" (gx) feeds tensor 0.
struct FakeModel {
  static constexpr int kT = 4;
  static constexpr int kC = 3;
  static constexpr int kK = 3;
  const char* channel_names[kC] = {"ax", "ay", "gx"};
  const char* channel_units[kC] = {"g", "g", "deg/s"};
  const char* class_names[kK] = {"idle", "wave", "punch"};
  int group0_channels[2] = {1, 0};
  int group1_channels[1] = {2};
  tinymlops::InputGroup groups[2] = {
      {"in_g", 1, 2, group0_channels, 0.5f, -3},
      {"in_deg_s", 0, 1, group1_channels, 2.0f, 10},
  };
  tinymlops::ModelInfo info{"1ff710073ba2933e3c7f1b7c923bbc126e8bea7ea1f5b8f2f36ca56f848c6058",
                            kT,
                            50.0f,
                            kC,
                            channel_names,
                            channel_units,
                            2,
                            groups,
                            kK,
                            class_names,
                            1.0f / 256.0f,
                            -128};

  std::vector<float> ring_values = std::vector<float>(kT * kC);
  std::vector<uint32_t> ring_times = std::vector<uint32_t>(kT);
  std::vector<float> window = std::vector<float>(kT * kC);
  std::vector<int8_t> input = std::vector<int8_t>(kT * 2);
  std::vector<int8_t> scores = std::vector<int8_t>(kK);
  std::vector<char> line = std::vector<char>(static_cast<size_t>(tinymlops::RequiredLineCapacity(info)));

  tinymlops::AppBuffers Buffers() {
    return {ring_values.data(), ring_times.data(), kT,  window.data(), kT * kC, input.data(), kT * 2,
            scores.data(),      kK,                line.data(), static_cast<int>(line.size())};
  }
};

// A model, fakes and an app wired together.
struct Rig {
  explicit Rig(tinymlops::AppOptions options = tinymlops::AppOptions())
      : sensor(FakeModel::kC), app(model.info, model.Buffers(), &sensor, &io, &inference, "dev-1", options) {}
  // Ticks at 20 ms (50 Hz) steps from `now_us`, n times.
  void TickSamples(int n) {
    for (int i = 0; i < n; ++i) {
      app.Tick(now_us);
      now_us += 20000;
    }
  }
  void Send(const std::string& line) {
    io.input.push_back(line);
    app.Tick(now_us);
  }

  FakeModel model;
  FakeSensor sensor;
  FakeLineIO io;
  FakeInference inference;
  tinymlops::App app;
  uint32_t now_us = 1000;
};

}  // namespace fakes

#endif  // TINYMLOPS_TEST_FAKES_H_
