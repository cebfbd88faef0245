// A tiny header-only test framework for the host unit tests.
//
//   TEST(name) { CHECK(cond); CHECK_EQ(actual, expected); }
//
// run_tests [substring] runs the tests whose name contains the substring and
// ends with the line "N passed, N failed"; the exit status is 1 on a failure.
#ifndef TINYMLOPS_TEST_CHECK_H_
#define TINYMLOPS_TEST_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace check {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& Registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& CurrentFailures() {
  static int failures = 0;
  return failures;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { Registry().push_back({name, fn}); }
};

template <typename T>
std::string Show(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
inline std::string Show(int8_t value) { return std::to_string(static_cast<int>(value)); }
inline std::string Show(uint8_t value) { return std::to_string(static_cast<unsigned>(value)); }
inline std::string Show(const std::string& value) { return "\"" + value + "\""; }
inline std::string Show(const char* value) { return value == nullptr ? "nullptr" : "\"" + std::string(value) + "\""; }
inline std::string Show(char* value) { return Show(static_cast<const char*>(value)); }
inline std::string Show(float value) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(value));
  return buf;
}
inline std::string Show(bool value) { return value ? "true" : "false"; }

inline void Fail(const char* file, int line, const std::string& what) {
  ++CurrentFailures();
  std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

// C strings compare by content.
template <typename A, typename B>
bool Equal(const A& a, const B& b) {
  return a == b;
}
inline bool Equal(const char* a, const char* b) { return a != nullptr && b != nullptr && std::strcmp(a, b) == 0; }
inline bool Equal(char* a, const char* b) { return Equal(static_cast<const char*>(a), b); }

// One instantiation per pair of types, not one expansion per call: keeps the
// test build fast.
template <typename A, typename B>
void CheckEq(const A& actual, const B& expected, const char* actual_text, const char* expected_text,
             const char* file, int line) {
  if (Equal(actual, expected)) return;
  Fail(file, line, std::string(actual_text) + " == " + expected_text + ": " + Show(actual) + " vs " + Show(expected));
}

inline int RunAll(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int passed = 0;
  int failed = 0;
  for (const TestCase& test : Registry()) {
    if (std::strstr(test.name, filter) == nullptr) continue;
    CurrentFailures() = 0;
    test.fn();
    if (CurrentFailures() == 0) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s\n", test.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace check

#define TEST(name)                                                  \
  static void name();                                               \
  static const ::check::Registrar name##_registrar(#name, &name);   \
  static void name()

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) ::check::Fail(__FILE__, __LINE__, "CHECK(" #cond ") failed"); \
  } while (0)

#define CHECK_EQ(actual, expected) ::check::CheckEq((actual), (expected), #actual, #expected, __FILE__, __LINE__)

#endif  // TINYMLOPS_TEST_CHECK_H_
