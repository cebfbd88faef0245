# Real TensorFlow Lite Micro for the Cortex-M4F, compiled from source snapshots, and the
# program that runs the product's src/board/tflm_inference.cc (unchanged) with an exported
# model on a Cortex-M4F under QEMU (mps2-an386). Included by firmware/Makefile.
#
#   make tflm-lib KERNELS=reference|cmsis_nn     build (or reuse) the cached library
#   make tflm-check MODEL_DIR=... CHECK_DIR=... KERNELS=...
#                                                link the check program and run it under QEMU
#
# TFLM's own Makefile downloads its dependencies at parse time and does not work offline, so
# this compiles the files its source list (tools/make/sources.inc) names, specialized for
# cmsis_nn the way its specialize_files.py does (a kernel of the same name replaces the
# reference one). Objects are cached under TFLM_CACHE, keyed by the sources' snapshots, the
# compiler and the flags: a rerun links in seconds.

THIRD_PARTY ?= $(abspath $(FIRMWARE)/../../shared/third_party)
TFLM_DIR ?= $(THIRD_PARTY)/tflite-micro
FLATBUFFERS_DIR ?= $(THIRD_PARTY)/flatbuffers
CMSIS_NN_DIR ?= $(THIRD_PARTY)/cmsis-nn
GEMMLOWP_DIR ?= /usr/include/gemmlowp
TFLM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tinymlops/tflm
KERNELS ?= reference
TFLM_SRC_DIR := $(FIRMWARE)/test/tflm

# TFLM's flags for a cortex_m_generic build (tools/make/Makefile, targets/cortex_m_generic_makefile.inc).
TFLM_DEFINES := -DTF_LITE_STATIC_MEMORY -DTF_LITE_DISABLE_X86_NEON -DTF_LITE_MCU_DEBUG_LOG -DNDEBUG \
                $(if $(filter cmsis_nn,$(KERNELS)),-DCMSIS_NN -DARM_NN_ENABLE_F16=0 -DARM_NN_ENABLE_F32=0)
TFLM_COMMON := $(ARM_CPU) -mlittle-endian -fsigned-char -fomit-frame-pointer -fno-unwind-tables \
               -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections -O2 $(TFLM_DEFINES) -MMD
# Include order: our no-op ruy profiler header, then TFLM, flatbuffers, gemmlowp, CMSIS-NN.
TFLM_INCLUDES := -I$(TFLM_SRC_DIR)/include -I$(TFLM_DIR) -I$(FLATBUFFERS_DIR)/include -I$(GEMMLOWP_DIR) \
                 -I$(CMSIS_NN_DIR) -I$(CMSIS_NN_DIR)/Include
TFLM_CXXFLAGS := $(TFLM_COMMON) -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics -w
TFLM_CFLAGS := $(TFLM_COMMON) -std=c11 -w

ifneq ($(wildcard $(TFLM_DIR)/tensorflow/lite/micro/tools/make/sources.inc),)
TENSORFLOW_ROOT := $(TFLM_DIR)/
include $(TFLM_DIR)/tensorflow/lite/micro/tools/make/sources.inc
endif

# The library's sources: as TFLM's Makefile computes them, without tests, benchmarks and the
# signal-processing kernels (audio front ends; none of our models use them).
TFLM_BASE := $(filter-out $(MICROLITE_TEST_SRCS) $(MICROLITE_BENCHMARK_SRCS),$(MICROLITE_CC_BASE_SRCS))
# debug_log.cc from cortex_m_generic: messages go to a registered callback, not stdio. (Its micro_time.cc
# needs CMSIS's device headers for the cycle counter; the generic one is kept.)
TFLM_CORE_SRCS := $(patsubst %/micro/debug_log.cc,%/micro/cortex_m_generic/debug_log.cc,$(TFLM_BASE))
specialize = $(foreach f,$(1),$(or $(wildcard $(2)/$(notdir $(f))),$(f)))
ifeq ($(KERNELS),cmsis_nn)
TFLM_KERNEL_SRCS := $(call specialize,$(MICROLITE_CC_KERNEL_SRCS),$(TFLM_DIR)/tensorflow/lite/micro/kernels/cmsis_nn)
CMSIS_NN_SRCS := $(filter-out %_f16.c %_f32.c %/arm_nntables_flt.c,$(shell find $(CMSIS_NN_DIR)/Source -name '*.c' 2>/dev/null))
else ifeq ($(KERNELS),reference)
TFLM_KERNEL_SRCS := $(MICROLITE_CC_KERNEL_SRCS)
CMSIS_NN_SRCS :=
else
$(error KERNELS=$(KERNELS): expected reference or cmsis_nn)
endif
TFLM_SRCS := $(TFLM_CORE_SRCS) $(TFLM_KERNEL_SRCS) $(CMSIS_NN_SRCS)

# The cache key: what the objects depend on besides the files themselves (make tracks those).
TFLM_KEY := $(shell { cat $(TFLM_DIR)/SNAPSHOT $(FLATBUFFERS_DIR)/SNAPSHOT $(CMSIS_NN_DIR)/SNAPSHOT 2>/dev/null; \
              echo $(TFLM_DIR) $(CMSIS_NN_DIR) $(TFLM_CXXFLAGS) $(TFLM_INCLUDES); \
              $(ARM_CXX) --version 2>/dev/null | head -1; } | sha256sum | cut -c1-12)
TFLM_OBJ_DIR := $(TFLM_CACHE)/$(KERNELS)-$(TFLM_KEY)
TFLM_LIB := $(TFLM_OBJ_DIR)/libtflm.a
# Object paths mirror the source paths under the snapshots' roots.
tflm_obj = $(TFLM_OBJ_DIR)/obj/$(subst $(abspath $(CMSIS_NN_DIR))/,cmsis-nn/,$(subst $(abspath $(TFLM_DIR))/,tflm/,$(abspath $(1)))).o
TFLM_OBJS := $(foreach f,$(TFLM_SRCS),$(call tflm_obj,$(f)))

.PHONY: tflm-lib tflm-check require-tflm require-check

require-tflm:
	@test -f $(TFLM_DIR)/tensorflow/lite/micro/tools/make/sources.inc || \
	    { echo "TFLM sources not found: set TFLM_DIR=<a tflite-micro tree> (now $(TFLM_DIR))"; exit 2; }
	@test -f $(FLATBUFFERS_DIR)/include/flatbuffers/flatbuffers.h || \
	    { echo "flatbuffers headers not found: set FLATBUFFERS_DIR=<flatbuffers v25.9.23 tree> (now $(FLATBUFFERS_DIR))"; exit 2; }
	@test -f $(GEMMLOWP_DIR)/fixedpoint/fixedpoint.h || \
	    { echo "gemmlowp headers not found: apt-get install libgemmlowp-dev, or set GEMMLOWP_DIR (now $(GEMMLOWP_DIR))"; exit 2; }
	@test "$(KERNELS)" != cmsis_nn -o -f $(CMSIS_NN_DIR)/Include/arm_nnfunctions.h || \
	    { echo "CMSIS-NN not found: set CMSIS_NN_DIR=<a CMSIS-NN tree> (now $(CMSIS_NN_DIR))"; exit 2; }

tflm-lib: require-tflm
	@$(MAKE) --no-print-directory -f $(FIRMWARE)/Makefile $(TFLM_LIB)
	@echo "tflm-lib: $(TFLM_LIB)"

$(TFLM_LIB): $(TFLM_OBJS)
	@rm -f $@.tmp
	$(ARM_AR) rcs $@.tmp $^
	@mv $@.tmp $@

$(TFLM_OBJ_DIR)/obj/%.cc.o:
	@mkdir -p $(@D)
	$(ARM_CXX) $(TFLM_CXXFLAGS) $(TFLM_INCLUDES) -c $(TFLM_SOURCE_OF_$@) -o $@

# Each object's source, looked up by object path (the two trees have different roots).
$(foreach f,$(TFLM_SRCS),$(eval TFLM_SOURCE_OF_$(call tflm_obj,$(f)) := $(f))$(eval $(call tflm_obj,$(f)): $(f)))

$(TFLM_OBJ_DIR)/obj/%.c.o:
	@mkdir -p $(@D)
	$(ARM_CC) $(TFLM_CFLAGS) $(TFLM_INCLUDES) -c $(TFLM_SOURCE_OF_$@) -o $@

-include $(TFLM_OBJS:.o=.d)

# ---- The check program: tflm_check.cc + the product's tflm_inference.cc + the exported model.
# CHECK_DIR holds check_windows.h (the host's int8 inputs); the ELF, map and output go there.
require-check: require-model require-tflm
	@test -f "$(CHECK_DIR)/check_windows.h" || { echo "CHECK_DIR=<folder with check_windows.h> is required"; exit 2; }

# -isystem: TFLM's headers do not build under the product's -Wextra -Wpedantic -Werror.
CHECK_CXXFLAGS := $(ARM_CXXFLAGS) -DARDUINO=10819 -DTF_LITE_STATIC_MEMORY $(TFLM_DEFINES) \
                  -isystem $(TFLM_DIR) -isystem $(FLATBUFFERS_DIR)/include -isystem $(GEMMLOWP_DIR) \
                  -isystem $(TFLM_SRC_DIR)/include
CHECK_ELF = $(CHECK_DIR)/tflm_check_$(KERNELS).elf

# One object per source (the map file attributes flash and RAM by object name), built in parallel.
CHECK_OBJS = $(addprefix $(CHECK_DIR)/,tflm_check.o text.o tflm_inference.o model_data.o startup.o semihost.o)
CHECK_INCLUDES = -I$(APP_DIR) -I$(FIRMWARE)/src/board -I$(MODEL_DIR) -I$(CHECK_DIR) -I$(SMOKE_SRC_DIR)

$(CHECK_ELF): $(CHECK_OBJS) $(TFLM_LIB)
	$(ARM_CXX) $(CHECK_OBJS) $(TFLM_LIB) $(ARM_LDFLAGS) -Wl,-Map=$(CHECK_ELF:.elf=.map) -o $@
$(CHECK_DIR)/tflm_check.o: $(TFLM_SRC_DIR)/tflm_check.cc $(CHECK_DIR)/check_windows.h $(MODEL_DIR)/model_ops.h
	$(ARM_CXX) $(CHECK_CXXFLAGS) $(CHECK_INCLUDES) -c $< -o $@
$(CHECK_DIR)/text.o: $(APP_DIR)/text.cc
	$(ARM_CXX) $(CHECK_CXXFLAGS) $(CHECK_INCLUDES) -c $< -o $@
$(CHECK_DIR)/tflm_inference.o: $(FIRMWARE)/src/board/tflm_inference.cc $(MODEL_DIR)/model_settings.h $(MODEL_DIR)/model_ops.h
	$(ARM_CXX) $(CHECK_CXXFLAGS) $(CHECK_INCLUDES) -c $< -o $@
$(CHECK_DIR)/model_data.o: $(MODEL_DIR)/model_data.cc
	$(ARM_CXX) $(CHECK_CXXFLAGS) $(CHECK_INCLUDES) -c $< -o $@
$(CHECK_DIR)/%.o: $(QEMU_SRC_DIR)/%.c
	$(ARM_CC) $(ARM_CFLAGS) -I$(SMOKE_SRC_DIR) -c $< -o $@

tflm-check: require-check tflm-lib
	@$(MAKE) --no-print-directory -f $(FIRMWARE)/Makefile $(CHECK_ELF)
	$(ARM_SIZE) -A $(CHECK_ELF)
	@# -icount shift=0: one instruction is one nanosecond of the board's clock, so timer ticks count instructions.
	timeout --kill-after=5 $(QEMU_TIMEOUT) $(QEMU) -M mps2-an386 -nographic -monitor none -icount shift=0 \
	    -semihosting-config enable=on,target=native -kernel $(CHECK_ELF) </dev/null 2>&1
