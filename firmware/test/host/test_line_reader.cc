#include <string>

#include "check.h"
#include "line_reader.h"

using tinymlops::LineReader;

namespace {
// Feeds text; returns the completed lines, too-long ones prefixed with "!".
std::string FeedAll(LineReader& reader, const std::string& text) {
  std::string lines;
  for (char c : text) {
    if (reader.Feed(c)) lines += std::string(reader.too_long() ? "!" : "") + reader.line() + "|";
  }
  return lines;
}
}  // namespace

TEST(line_reader_splits_lines_and_drops_carriage_returns) {
  char buf[16];
  LineReader reader(buf, sizeof(buf));
  CHECK_EQ(FeedAll(reader, "MODE infer\r\nW 1,2\n\npartial"), "MODE infer|W 1,2||");
  CHECK_EQ(FeedAll(reader, " line\n"), "partial line|");
}

TEST(line_reader_marks_a_line_longer_than_its_buffer) {
  char buf[8];
  LineReader reader(buf, sizeof(buf));
  CHECK_EQ(FeedAll(reader, "1234567\n12345678\nok\n"), "1234567|!1234567|ok|");
}
