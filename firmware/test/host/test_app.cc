#include <cstdio>
#include <string>
#include <vector>

#include "app.h"
#include "check.h"
#include "crc32.h"
#include "fakes.h"

using fakes::Rig;
using tinymlops::Mode;

namespace {

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::vector<std::string> WithPrefix(const std::vector<std::string>& lines, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& line : lines) {
    if (StartsWith(line, prefix)) out.push_back(line);
  }
  return out;
}

// The quantized value the fake model's group "in_g" (scale 0.5, zero point -3) gives.
int8_t QG(float x) { return tinymlops::QuantizeValue(x, 0.5f, -3); }
// Group "in_deg_s": scale 2, zero point 10.
int8_t QD(float x) { return tinymlops::QuantizeValue(x, 2.0f, 10); }

}  // namespace

TEST(app_boots_into_infer_mode_with_ready) {
  Rig rig;
  CHECK(rig.app.Begin(rig.now_us));
  CHECK(rig.app.ready());
  CHECK(rig.app.mode() == Mode::kInfer);
  const auto lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0],
           "READY device=dev-1 mode=infer model=1ff71007 window=4 rate=50 channels=ax,ay,gx classes=idle,wave,punch");
  CHECK_EQ(rig.app.stride(), 2);  // T / 2 by default
}

TEST(app_predicts_every_stride_from_the_newest_window) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.io.Take();
  rig.TickSamples(3);
  CHECK(rig.io.Take().empty());
  CHECK_EQ(rig.inference.invokes, 0);
  rig.TickSamples(1);  // the 4th sample completes the first window
  auto lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "PRED 1 wave 0.9961 -128,127,-100");
  // Tensor 1 holds group in_g: channels ay, ax of samples 0..3; tensor 0 holds gx.
  const std::vector<int8_t> expected_g = {QG(fakes::SampleValue(0, 1)), QG(fakes::SampleValue(0, 0)),
                                          QG(fakes::SampleValue(1, 1)), QG(fakes::SampleValue(1, 0)),
                                          QG(fakes::SampleValue(2, 1)), QG(fakes::SampleValue(2, 0)),
                                          QG(fakes::SampleValue(3, 1)), QG(fakes::SampleValue(3, 0))};
  CHECK(rig.inference.inputs[1] == expected_g);
  const std::vector<int8_t> expected_d = {QD(fakes::SampleValue(0, 2)), QD(fakes::SampleValue(1, 2)),
                                          QD(fakes::SampleValue(2, 2)), QD(fakes::SampleValue(3, 2))};
  CHECK(rig.inference.inputs[0] == expected_d);
  rig.TickSamples(1);
  CHECK(rig.io.Take().empty());
  rig.inference.scores = {100, -128, 101};
  rig.TickSamples(1);  // samples 2..5
  lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "PRED 2 punch 0.8945 100,-128,101");
  CHECK_EQ(rig.inference.inputs[0][0], QD(fakes::SampleValue(2, 2)));
  CHECK_EQ(rig.inference.inputs[0][3], QD(fakes::SampleValue(5, 2)));
  CHECK_EQ(rig.app.predictions(), 2u);
  CHECK_EQ(rig.sensor.reads, 6);
}

TEST(app_samples_at_the_configured_rate_only) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  for (int i = 0; i < 100; ++i) rig.app.Tick(rig.now_us + static_cast<uint32_t>(i) * 1000u);  // 100 ms
  CHECK_EQ(rig.sensor.reads, 5);  // 0, 20, 40, 60, 80 ms
  CHECK_EQ(rig.app.missed_samples(), 0u);
  rig.app.Tick(rig.now_us + 200000u);  // nothing for 100 ms: slots 100..180 ms are skipped
  CHECK_EQ(rig.sensor.reads, 6);
  CHECK_EQ(rig.app.missed_samples(), 5u);
}

TEST(app_keeps_sampling_across_the_micros_wrap) {
  Rig rig;
  rig.now_us = 0xFFFFFFFFu - 30000u;
  rig.app.Begin(rig.now_us);
  rig.io.Take();
  rig.TickSamples(8);  // wraps after the second sample
  CHECK_EQ(rig.sensor.reads, 8);
  CHECK_EQ(rig.app.missed_samples(), 0u);
  CHECK_EQ(WithPrefix(rig.io.Take(), "PRED").size(), 3u);
}

TEST(app_reports_sensor_and_inference_failures_without_flooding) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.io.Take();
  rig.sensor.fail = true;
  rig.TickSamples(5);
  auto lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "# sensor read failed (1 times)");
  CHECK_EQ(rig.app.sensor_failures(), 5u);
  rig.sensor.fail = false;
  rig.inference.fail_invoke = true;
  rig.TickSamples(6);
  lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "# inference failed (1 times)");
}

TEST(app_collects_windows_with_crc) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.Send("MODE collect");
  auto lines = rig.io.Take();
  CHECK_EQ(lines.size(), 2u);
  CHECK(StartsWith(lines[1], "READY device=dev-1 mode=collect "));
  rig.TickSamples(10);
  CHECK_EQ(rig.sensor.reads, 0);  // idle until COLLECT
  CHECK(rig.io.Take().empty());

  rig.io.input.push_back("COLLECT wave 2");
  rig.TickSamples(8);
  lines = rig.io.Take();
  CHECK_EQ(lines.size(), 13u);  // 2 x (WIN + 4 S + END) + done
  CHECK_EQ(lines[0], "WIN 1 wave");
  CHECK_EQ(lines[6], "WIN 2 wave");
  CHECK(StartsWith(lines[12], "# collect done: 2 windows"));
  for (int w = 0; w < 2; ++w) {
    uint32_t crc = 0;
    for (int i = 1; i <= 4; ++i) {
      const std::string& s = lines[static_cast<size_t>(w * 6 + i)];
      CHECK(StartsWith(s, "S "));
      const std::string payload = s.substr(2) + "\n";
      crc = tinymlops::Crc32Update(crc, payload.data(), payload.size());
    }
    char end[32];
    std::snprintf(end, sizeof(end), "END %d %08x", w + 1, crc);
    CHECK_EQ(lines[static_cast<size_t>(w * 6 + 5)], std::string(end));
  }
  // The first sample: taken at the COLLECT tick (t = 201 ms), values of fake sample 0.
  CHECK_EQ(lines[1], "S 201,0.0000,0.1000,0.2000");
  CHECK_EQ(lines[2], "S 221,1.0000,1.1000,1.2000");
  CHECK_EQ(rig.app.windows_collected(), 2u);
  CHECK(!rig.app.collecting());
  rig.TickSamples(4);
  CHECK(rig.io.Take().empty());
}

TEST(app_collect_crc_of_known_payloads) {
  // The CRC covers "<payload>\n" of each S line, as zlib.crc32 over the joined text.
  const std::string text = "201,0.0000,0.1000,0.2000\n221,1.0000,1.1000,1.2000\n";
  uint32_t crc = 0;
  crc = tinymlops::Crc32Update(crc, "201,0.0000,0.1000,0.2000\n", 25);
  crc = tinymlops::Crc32Update(crc, "221,1.0000,1.1000,1.2000\n", 25);
  CHECK_EQ(crc, tinymlops::Crc32(text.data(), text.size()));
}

TEST(app_rejects_collect_outside_collect_mode_and_while_busy) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.io.Take();
  rig.io.input.push_back("COLLECT wave 1");
  rig.app.Tick(rig.now_us);
  auto lines = WithPrefix(rig.io.Take(), "ERR");
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "ERR COLLECT needs MODE collect");

  rig.Send("MODE collect");
  rig.Send("COLLECT wave 2");
  rig.Send("COLLECT idle 1");
  lines = rig.io.Take();
  CHECK_EQ(lines.back(), "ERR busy: a collection is running (MODE collect aborts it)");
  rig.Send("MODE collect");
  lines = rig.io.Take();
  CHECK_EQ(lines.size(), 2u);
  CHECK_EQ(lines[0], "# collect aborted: window 1 has no END");
  CHECK(StartsWith(lines[1], "READY "));
  CHECK(!rig.app.collecting());
  rig.Send("COLLECT idle 1");
  CHECK_EQ(rig.io.Take()[0], "WIN 2 idle");
  rig.Send("COLLECT wave 0");
  CHECK_EQ(rig.io.Take().back(), "ERR count must be a whole number from 1");
}

TEST(app_collects_only_the_models_classes) {
  Rig rig;
  rig.app.Begin(rig.now_us, Mode::kCollect);
  rig.io.Take();
  rig.Send("COLLECT jump 1");
  CHECK_EQ(rig.io.Take().back(), "ERR label must be one of the classes: idle,wave,punch");
  CHECK(!rig.app.collecting());
}

TEST(app_without_a_sensor_still_verifies_and_says_why_it_cannot_sample) {
  fakes::FakeModel model;
  fakes::FakeLineIO io;
  fakes::FakeInference inference;
  tinymlops::App app(model.info, model.Buffers(), nullptr, &io, &inference, "dev-1");
  CHECK(app.Begin(0));
  auto lines = io.Take();
  CHECK_EQ(lines.size(), 2u);
  CHECK_EQ(lines[1], "# no sensor: infer mode has nothing to sample");
  for (uint32_t t = 0; t < 200000; t += 20000) app.Tick(t);
  CHECK(io.Take().empty());
  io.input.push_back("MODE collect");
  io.input.push_back("COLLECT wave 1");
  app.Tick(200000);
  lines = io.Take();
  CHECK_EQ(lines.back(), "ERR no sensor on this board: COLLECT cannot sample");
  io.input.push_back("MODE verify");
  io.input.push_back("W 0,0,0,0,0,0,0,0,0,0,0,0");
  app.Tick(220000);
  CHECK_EQ(io.Take().back(), "Y -128,127,-100");
}

TEST(app_limits_the_collect_count) {
  tinymlops::AppOptions options;
  options.max_collect_count = 10;
  Rig rig(options);
  rig.app.Begin(rig.now_us, Mode::kCollect);
  rig.io.Take();
  rig.Send("COLLECT wave 11");
  CHECK_EQ(rig.io.Take().back(), "ERR count must be at most 10");
  CHECK(!rig.app.collecting());
}

TEST(app_verifies_windows_sent_by_the_host) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.Send("MODE verify");
  rig.io.Take();
  rig.TickSamples(10);
  CHECK_EQ(rig.sensor.reads, 0);  // no sampling in verify mode
  rig.Send("W 0.5,1,-2,1.5,0,4,0,0,0,0,0,0");
  auto lines = rig.io.Take();
  CHECK_EQ(lines.size(), 1u);
  CHECK_EQ(lines[0], "Y -128,127,-100");
  const std::vector<int8_t> expected_g = {QG(1.0f), QG(0.5f), QG(0.0f), QG(1.5f), QG(0), QG(0), QG(0), QG(0)};
  CHECK(rig.inference.inputs[1] == expected_g);
  const std::vector<int8_t> expected_d = {QD(-2.0f), QD(4.0f), QD(0), QD(0)};
  CHECK(rig.inference.inputs[0] == expected_d);

  rig.Send("W 1,2,3");
  CHECK_EQ(rig.io.Take()[0], "ERR W needs 12 values (T x C), got 3");
  rig.Send("W 1,2,x");
  CHECK_EQ(rig.io.Take()[0], "ERR value is not a plain finite decimal number (value 2)");
  rig.Send("W 1,1,1,1,1,1,1,1,1,1,1,1,1");
  CHECK_EQ(rig.io.Take()[0], "ERR too many values");
  rig.inference.fail_set = true;
  rig.Send("W 0,0,0,0,0,0,0,0,0,0,0,0");
  CHECK_EQ(rig.io.Take()[0], "ERR inference failed");
}

TEST(app_rejects_w_outside_verify_mode_and_bad_lines) {
  Rig rig;
  rig.app.Begin(rig.now_us, Mode::kCollect);
  rig.io.Take();
  rig.Send("W 0,0,0,0,0,0,0,0,0,0,0,0");
  CHECK_EQ(rig.io.Take()[0], "ERR W needs MODE verify");
  rig.Send("");
  CHECK(rig.io.Take().empty());
  rig.Send("HELLO");
  CHECK_EQ(rig.io.Take()[0], "ERR unknown command (MODE, COLLECT, W)");
  rig.Send("MODE sleep");
  CHECK_EQ(rig.io.Take()[0], "ERR mode must be infer, collect or verify");
  rig.io.max_line = 8;
  rig.Send("MODE verify");
  CHECK_EQ(rig.io.Take()[0], "ERR line too long");
  CHECK(rig.app.mode() == Mode::kCollect);
}

TEST(app_mode_switch_resets_the_window) {
  Rig rig;
  rig.app.Begin(rig.now_us);
  rig.TickSamples(3);
  rig.Send("MODE infer");
  rig.io.Take();
  rig.TickSamples(3);
  CHECK(WithPrefix(rig.io.Take(), "PRED").empty());  // the 3 old samples were dropped
  rig.TickSamples(1);
  const auto preds = WithPrefix(rig.io.Take(), "PRED");
  CHECK_EQ(preds.size(), 1u);
  CHECK(StartsWith(preds[0], "PRED 1 "));  // seq counts from the mode switch
}

TEST(app_refuses_to_run_with_a_bad_setup) {
  fakes::FakeModel model;
  fakes::FakeSensor sensor(3);
  fakes::FakeLineIO io;
  fakes::FakeInference inference;
  tinymlops::AppBuffers buffers = model.Buffers();
  buffers.ring_capacity = 3;  // less than T
  tinymlops::App app(model.info, buffers, &sensor, &io, &inference, "dev-1");
  CHECK(!app.Begin(0));
  CHECK(!app.ready());
  CHECK_EQ(io.Take()[0], "# setup error: ring buffer holds less than a window");
  io.input.push_back("MODE verify");
  app.Tick(20000);
  CHECK_EQ(io.Take()[0], "ERR not ready: ring buffer holds less than a window");
  CHECK_EQ(sensor.reads, 0);

  tinymlops::App bad_id(model.info, model.Buffers(), &sensor, &io, &inference, "dev 1");
  CHECK(!bad_id.Begin(0));
  model.info.sample_rate_hz = 0.0f;
  tinymlops::App bad_rate(model.info, model.Buffers(), &sensor, &io, &inference, "dev-1");
  CHECK(!bad_rate.Begin(0));
  model.info.sample_rate_hz = 50.0f;
  model.groups[1].channels = model.group0_channels;
  model.group0_channels[0] = 3;  // no such channel
  tinymlops::App bad_channel(model.info, model.Buffers(), &sensor, &io, &inference, "dev-1");
  CHECK(!bad_channel.Begin(0));
  CHECK_EQ(io.Take().back(), "# setup error: an input group names a channel the window does not have");
}

TEST(app_line_capacity_fits_every_line) {
  fakes::FakeModel model;
  const int capacity = tinymlops::RequiredLineCapacity(model.info);
  CHECK(capacity >= 160);
  CHECK(capacity < 512);
}
