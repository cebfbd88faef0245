#include "line_reader.h"

namespace tinymlops {

void LineReader::Reset() {
  length_ = 0;
  too_long_ = false;
  complete_ = false;
  if (capacity_ > 0) buf_[0] = '\0';
}

bool LineReader::Feed(char c) {
  if (complete_) Reset();
  if (c == '\r') return false;
  if (c == '\n') {
    complete_ = true;
    return true;
  }
  if (length_ + 1 < capacity_) {
    buf_[length_++] = c;
    buf_[length_] = '\0';
  } else {
    too_long_ = true;
  }
  return false;
}

}  // namespace tinymlops
