// Assembles received characters into lines, in a buffer the caller owns.
// "\n" ends a line, "\r" is dropped (CRLF works). A line longer than the
// buffer is truncated and marked too long when its "\n" arrives.
#ifndef TINYMLOPS_APP_LINE_READER_H_
#define TINYMLOPS_APP_LINE_READER_H_

namespace tinymlops {

class LineReader {
 public:
  LineReader(char* buf, int capacity) : buf_(buf), capacity_(capacity) { Reset(); }

  // Adds one received character; true when it completed a line, which is then
  // line() until the next Feed.
  bool Feed(char c);
  const char* line() const { return buf_; }
  bool too_long() const { return too_long_; }

 private:
  void Reset();

  char* buf_;
  int capacity_;
  int length_ = 0;
  bool too_long_ = false;
  bool complete_ = false;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_LINE_READER_H_
