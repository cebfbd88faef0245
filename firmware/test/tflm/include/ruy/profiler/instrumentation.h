// No-op stand-in for ruy's profiler: TFLM's kernels include it only for
// profiling labels (ruy::profiler::ScopeLabel), which a board build does not record.
#ifndef TINYMLOPS_RUY_PROFILER_INSTRUMENTATION_H_
#define TINYMLOPS_RUY_PROFILER_INSTRUMENTATION_H_

namespace ruy {
namespace profiler {

class ScopeLabel {
 public:
  template <typename... Args>
  explicit ScopeLabel(Args&&...) {}
};

}  // namespace profiler
}  // namespace ruy

#endif  // TINYMLOPS_RUY_PROFILER_INSTRUMENTATION_H_
