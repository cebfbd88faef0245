#include <cmath>
#include <limits>

#include "check.h"
#include "ring_buffer.h"
#include "sampler.h"

using tinymlops::MonotonicClock;
using tinymlops::SampleRing;
using tinymlops::SampleSchedule;
using tinymlops::WindowAssembler;

TEST(clock_survives_the_32_bit_microsecond_wrap) {
  MonotonicClock clock;
  CHECK_EQ(clock.Update(0xFFFFFF00u), 0xFFFFFF00ull);
  CHECK_EQ(clock.Update(0x00000100u), 0x100000100ull);
  CHECK_EQ(clock.Update(0x00000100u), 0x100000100ull);
  CHECK_EQ(clock.Update(0x80000100u), 0x180000100ull);
  CHECK_EQ(clock.Update(0x00000100u), 0x200000100ull);
}

TEST(schedule_takes_one_sample_per_period) {
  SampleSchedule schedule;
  CHECK(schedule.SetRate(50.0f));
  schedule.Start(1000);
  CHECK(schedule.Due(1000));
  CHECK(!schedule.Due(1000));
  CHECK(!schedule.Due(20999));
  CHECK(schedule.Due(21000));
  CHECK(!schedule.Due(21001));
  CHECK(schedule.Due(41500));  // late but within the period: not a miss
  CHECK_EQ(schedule.missed(), 0u);
  CHECK(schedule.Due(61000));
}

TEST(schedule_skips_and_counts_missed_slots) {
  SampleSchedule schedule;
  CHECK(schedule.SetRate(50.0f));
  schedule.Start(0);
  CHECK(schedule.Due(0));
  CHECK(schedule.Due(20000));
  CHECK(schedule.Due(100000));  // slots 2, 3 and 4 passed unserved
  CHECK_EQ(schedule.missed(), 3u);
  CHECK(!schedule.Due(100001));
  CHECK(schedule.Due(120000));
  CHECK_EQ(schedule.missed(), 3u);
}

TEST(schedule_slot_times_do_not_drift_at_a_fractional_period) {
  SampleSchedule schedule;
  CHECK(schedule.SetRate(3.0f));
  schedule.Start(0);
  CHECK_EQ(schedule.SlotTime(1), 333333ull);
  CHECK_EQ(schedule.SlotTime(3), 1000000ull);
  CHECK_EQ(schedule.SlotTime(3000), 1000000000ull);
  CHECK(schedule.SetRate(62.5f));
  CHECK_EQ(schedule.SlotTime(1), 16000ull);
}

TEST(schedule_rejects_rates_that_are_not_positive_numbers) {
  SampleSchedule schedule;
  CHECK(!schedule.SetRate(0.0f));
  CHECK(!schedule.SetRate(-50.0f));
  CHECK(!schedule.SetRate(std::numeric_limits<float>::quiet_NaN()));
  CHECK(!schedule.SetRate(std::numeric_limits<float>::infinity()));
  CHECK(!schedule.Due(0));  // never due without a rate
}

TEST(window_assembler_emits_every_stride_once_a_window_is_stored) {
  float values[4];
  uint32_t times[4];
  SampleRing ring(values, times, 4, 1);
  WindowAssembler assembler(&ring, 4, 2);
  int ready_at[8] = {};
  int ready = 0;
  for (int i = 1; i <= 8; ++i) {
    const float sample = static_cast<float>(i);
    if (assembler.Add(static_cast<uint32_t>(i), &sample)) ready_at[ready++] = i;
  }
  CHECK_EQ(ready, 3);
  CHECK_EQ(ready_at[0], 4);
  CHECK_EQ(ready_at[1], 6);
  CHECK_EQ(ready_at[2], 8);
  float window[4];
  CHECK(assembler.CopyWindow(window));
  CHECK_EQ(window[0], 5.0f);
  CHECK_EQ(window[3], 8.0f);
  assembler.Reset();
  const float sample = 1.0f;
  CHECK(!assembler.Add(1, &sample));
  CHECK(!assembler.CopyWindow(window));
}

TEST(window_assembler_without_overlap) {
  float values[3];
  uint32_t times[3];
  SampleRing ring(values, times, 3, 1);
  WindowAssembler assembler(&ring, 3, 3);
  int ready = 0;
  for (int i = 1; i <= 9; ++i) {
    const float sample = static_cast<float>(i);
    ready += assembler.Add(static_cast<uint32_t>(i), &sample) ? 1 : 0;
  }
  CHECK_EQ(ready, 3);
  WindowAssembler zero_stride(&ring, 3, 0);
  CHECK_EQ(zero_stride.stride(), 1);
}
