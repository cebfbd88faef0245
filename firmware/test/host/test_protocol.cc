#include <string>

#include "check.h"
#include "fakes.h"
#include "protocol.h"

using tinymlops::Command;
using tinymlops::CommandKind;
using tinymlops::Mode;
using tinymlops::ParseCommand;
using tinymlops::ParseError;
using tinymlops::TextBuilder;

namespace {
Command Parse(const char* line) {
  static float values[8];
  return ParseCommand(line, values, 8);
}
}  // namespace

TEST(parse_mode) {
  Command c = Parse("MODE infer");
  CHECK(c.kind == CommandKind::kMode);
  CHECK(c.mode == Mode::kInfer);
  CHECK(Parse("MODE collect").mode == Mode::kCollect);
  CHECK(Parse("  MODE   verify  ").mode == Mode::kVerify);
  CHECK(Parse("MODE").error == ParseError::kMissingArgument);
  CHECK(Parse("MODE fast").error == ParseError::kBadMode);
  CHECK(Parse("MODE infer now").error == ParseError::kExtraArgument);
  CHECK(Parse("mode infer").error == ParseError::kUnknownCommand);
  CHECK(Parse("MODE infer").error == ParseError::kNone);
}

TEST(parse_collect) {
  Command c = Parse("COLLECT wave 3");
  CHECK(c.kind == CommandKind::kCollect);
  CHECK_EQ(c.label, "wave");
  CHECK_EQ(c.count, 3u);
  CHECK_EQ(Parse("COLLECT my_gesture-2.b 999999999").count, 999999999u);
  CHECK(Parse("COLLECT wave").error == ParseError::kMissingArgument);
  CHECK(Parse("COLLECT wave 0").error == ParseError::kBadCount);
  CHECK(Parse("COLLECT wave -1").error == ParseError::kBadCount);
  CHECK(Parse("COLLECT wave 1000000000").error == ParseError::kBadCount);
  CHECK(Parse("COLLECT wave 3x").error == ParseError::kBadCount);
  CHECK(Parse("COLLECT _wave 3").error == ParseError::kBadLabel);
  CHECK(Parse("COLLECT wa,ve 3").error == ParseError::kBadLabel);
  CHECK(Parse("COLLECT wave 3 4").error == ParseError::kExtraArgument);
  CHECK(Parse("COLLECT abcdefghijabcdefghijabcdefghijab 1").kind == CommandKind::kCollect);   // 32
  CHECK(Parse("COLLECT abcdefghijabcdefghijabcdefghijabc 1").error == ParseError::kBadLabel);  // 33
}

TEST(parse_window_values) {
  float values[4];
  Command c = ParseCommand("W 1,2.5,-3e-2,+0.1", values, 4);
  CHECK(c.kind == CommandKind::kWindow);
  CHECK_EQ(c.value_count, 4);
  CHECK_EQ(values[0], 1.0f);
  CHECK_EQ(values[1], 2.5f);
  CHECK_EQ(values[2], -3e-2f);
  CHECK_EQ(values[3], 0.1f);
  c = ParseCommand("W 16777217,0.1", values, 4);  // the float nearest to the decimal text
  CHECK_EQ(values[0], 16777216.0f);
  CHECK_EQ(values[1], 0.1f);
}

TEST(parse_window_rejects_what_is_not_a_plain_number) {
  float values[3];
  const char* bad[] = {"W 1,,2", "W 1,nan", "W 1,inf", "W 0x10", "W 1,2,", "W 1e99", "W .", "W 1,2 ,3", "W -"};
  const int bad_index[] = {1, 1, 1, 0, 2, 0, 0, -1, 0};
  for (int i = 0; i < 9; ++i) {
    const Command c = ParseCommand(bad[i], values, 3);
    CHECK(c.kind == CommandKind::kInvalid);
    if (bad_index[i] >= 0) {
      CHECK(c.error == ParseError::kBadNumber);
      CHECK_EQ(c.bad_value, bad_index[i]);
    } else {
      CHECK(c.error == ParseError::kExtraArgument);
    }
  }
  CHECK(ParseCommand("W 1,2,3,4", values, 3).error == ParseError::kTooManyValues);
  CHECK(ParseCommand("W", values, 3).error == ParseError::kMissingArgument);
  CHECK(ParseCommand("W 1,2", nullptr, 0).error == ParseError::kTooManyValues);
  CHECK(ParseCommand("W 1234567890123456789012345678901234", values, 3).error == ParseError::kBadNumber);
}

TEST(parse_empty_and_unknown_lines) {
  CHECK(Parse("").kind == CommandKind::kEmpty);
  CHECK(Parse("   \t ").kind == CommandKind::kEmpty);
  CHECK(Parse("HELLO").error == ParseError::kUnknownCommand);
  CHECK(Parse("Y 1,2").error == ParseError::kUnknownCommand);
}

TEST(labels_and_device_ids) {
  CHECK(tinymlops::IsValidLabel("idle", 4));
  CHECK(!tinymlops::IsValidLabel("", 0));
  CHECK(!tinymlops::IsValidLabel("-a", 2));
  CHECK(tinymlops::IsValidDeviceId("nano33ble-0123456789abcdef"));
  CHECK(!tinymlops::IsValidDeviceId("dev 1"));
  CHECK(!tinymlops::IsValidDeviceId(""));
  CHECK(!tinymlops::IsValidDeviceId(nullptr));
  CHECK(!tinymlops::IsValidDeviceId("a..b"));
  CHECK(tinymlops::IsValidDeviceId("a.b_c-1"));
  CHECK(!tinymlops::IsValidDeviceId(std::string(65, 'a').c_str()));
  CHECK(tinymlops::IsValidDeviceId(std::string(64, 'a').c_str()));
}

TEST(format_lines) {
  fakes::FakeModel model;
  char buf[512];
  TextBuilder out(buf, sizeof(buf));
  tinymlops::FormatReady(out, model.info, "dev-1", Mode::kCollect);
  CHECK_EQ(out.c_str(),
           "READY device=dev-1 mode=collect model=1ff71007 window=4 rate=50 channels=ax,ay,gx "
           "classes=idle,wave,punch");
  const int8_t scores[3] = {-128, 127, -100};
  const tinymlops::TopClass top = tinymlops::TopClassOf(scores, 3, model.info.output_scale, -128);
  tinymlops::FormatPred(out, 7, model.info, top, scores);
  CHECK_EQ(out.c_str(), "PRED 7 wave 0.9961 -128,127,-100");
  tinymlops::FormatWin(out, 3, "wave");
  CHECK_EQ(out.c_str(), "WIN 3 wave");
  const float values[3] = {0.1f, -2.5f, 1000.0f};
  tinymlops::FormatSample(out, 1234, values, 3);
  CHECK_EQ(out.c_str(), "S 1234,0.1000,-2.5000,1000.0000");
  CHECK_EQ(out.From(2), "1234,0.1000,-2.5000,1000.0000");
  tinymlops::FormatEnd(out, 3, 0xabcdu);
  CHECK_EQ(out.c_str(), "END 3 0000abcd");
  tinymlops::FormatY(out, scores, 3);
  CHECK_EQ(out.c_str(), "Y -128,127,-100");
  tinymlops::FormatErr(out, "nope");
  CHECK_EQ(out.c_str(), "ERR nope");
  tinymlops::FormatLog(out, "hi");
  CHECK_EQ(out.c_str(), "# hi");
  CHECK_EQ(std::string(tinymlops::ModeName(Mode::kVerify)), "verify");
}
