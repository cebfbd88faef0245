// The application: three modes driven through the interfaces.
//
//   infer    sample the sensor at the configured rate, and every `stride`
//            samples (once T are stored) quantize the newest window, run the
//            model and write PRED.
//   collect  idle until COLLECT <label> <count>; then stream `count` windows
//            of T fresh samples each as WIN / S... / END with the CRC-32.
//   verify   no sampling; each W <window> is quantized and run, answered by Y.
//
// MODE switches at any time (aborting a collection in progress: its window
// gets no END) and is answered by READY. Call Begin() once, then Tick() as
// often as possible with the board's microsecond counter. The protocol is
// firmware/PROTOCOL.md. A board whose sensor did not start passes a null
// sensor: verify mode still works, COLLECT is answered by ERR and infer mode
// logs that it has nothing to sample.
#ifndef TINYMLOPS_APP_APP_H_
#define TINYMLOPS_APP_APP_H_

#include <cstdint>

#include "interfaces.h"
#include "model_info.h"
#include "protocol.h"
#include "ring_buffer.h"
#include "sampler.h"
#include "text.h"

namespace tinymlops {

struct AppOptions {
  int infer_stride = 0;                 // samples between predictions; 0: T / 2 (at least 1)
  uint32_t max_collect_count = 100000;  // windows one COLLECT may ask for
  int max_lines_per_tick = 4;           // commands handled per Tick, so sampling stays on time
};

// Output line capacity that every line of this model fits in, for a device id
// of at most 64 characters.
int RequiredLineCapacity(const ModelInfo& model);

class App {
 public:
  App(const ModelInfo& model, const AppBuffers& buffers, Sensor* sensor, LineIO* io, Inference* inference,
      const char* device_id, const AppOptions& options = AppOptions());

  // Checks the model description and the buffers, then writes READY. On a
  // setup error it writes "# setup error: ..." instead, returns false, and
  // answers every later command with ERR.
  bool Begin(uint32_t now_us, Mode mode = Mode::kInfer);
  void Tick(uint32_t now_us);
  // Writes "# text".
  void Log(const char* text);

  Mode mode() const { return mode_; }
  bool ready() const { return setup_error_ == nullptr; }
  const char* setup_error() const { return setup_error_; }
  bool collecting() const { return collect_remaining_ > 0; }
  uint32_t predictions() const { return seq_; }  // since the mode was entered
  uint32_t windows_collected() const { return windows_collected_; }
  uint32_t missed_samples() const { return schedule_.missed(); }
  uint32_t sensor_failures() const { return sensor_failures_; }
  int stride() const { return assembler_.stride(); }

 private:
  const char* CheckSetup();
  void HandleLine(const char* line, bool too_long, uint64_t now_us);
  void EnterMode(Mode mode, uint64_t now_us);
  void StartCollect(const Command& command, uint64_t now_us);
  void StartWindow();
  void SampleInfer(uint64_t now_us);
  void SampleCollect(uint64_t now_us);
  bool ReadSensor(float* sample);
  bool RunModel(const float* window);
  void Write();
  void Err(const char* text);

  const ModelInfo& model_;
  AppBuffers buffers_;
  Sensor* sensor_;
  LineIO* io_;
  Inference* inference_;
  const char* device_id_;
  AppOptions options_;

  TextBuilder out_;
  SampleRing ring_;
  WindowAssembler assembler_;
  MonotonicClock clock_;
  SampleSchedule schedule_;

  const char* setup_error_ = "Begin() not called";
  Mode mode_ = Mode::kInfer;
  uint32_t seq_ = 0;
  uint32_t sensor_failures_ = 0;
  uint32_t inference_failures_ = 0;
  // collect
  char collect_label_[kMaxLabelLength + 1] = {};
  uint32_t collect_remaining_ = 0;
  uint32_t next_window_id_ = 1;
  uint32_t window_id_ = 0;
  int samples_in_window_ = 0;
  uint32_t crc_ = 0;
  uint32_t windows_collected_ = 0;
};

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_APP_H_
