# Every target creates or reuses .venv; the install reruns only when
# pyproject.toml or constraints.txt change.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
PIP_FLAGS := --only-binary=pyarrow,numpy,pandas,tensorflow,apache-beam -c constraints.txt
SYSTEM_PYTHON ?= python3

# tfmot needs legacy Keras (tf_keras) and TensorFlow reads this at import; level 3: only FATAL C++ logs
# (CUDA factory registration and the like say nothing a user can act on).
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install run test compile bench lint clean firmware-toolchain tflm-libs manifests-check images images-test base-image container-engine \
        scanners scan

# Image names come from the configuration (cluster.runtime_image, cluster.firmware_builder_image).
RUNTIME_IMAGE ?= $(shell $(PY) -c "from components.config import Config; print(Config().cluster.runtime_image)" 2>/dev/null)
BUILDER_IMAGE ?= $(shell $(PY) -c "from components.config import Config; print(Config().cluster.firmware_builder_image)" 2>/dev/null)

# Debian's cross toolchain and QEMU, for the firmware's host, Cortex-M4 and QEMU tests.
# Installed where this runs as root with apt (CI, a fresh machine); elsewhere those tests skip and say why.
FIRMWARE_DEBS := g++ gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
                 libgemmlowp-dev
# How long apt-get waits for another apt or dpkg process (unattended-upgrades, a parallel install) to let go
# of its locks, in seconds. DPkg::Lock::Timeout makes apt-get wait for dpkg's locks; apt 2.6 (Debian 12) does
# not apply it to the lists lock (apt-get update) or the archives lock (downloads): it fails at once with
# "Could not get lock", so each apt-get is tried again every 10 s while that is its error, up to this long.
APT_LOCK_TIMEOUT ?= 600

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q $(PIP_FLAGS) -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

# Simulated fleet (synthetic data) -> drift-monitor -> continuous-training, under kfp.local.
# The product's story on the embedded default (a local store, synthetic data); rerunning adds nothing new.
run: $(STAMP)
	@echo "== 1/5 a fleet of 12 simulated devices uploads gesture windows (synthetic data)"
	$(VENV)/bin/tinymlops simulate --scenario baseline
	@echo "== 2/5 monitor: ingest, validate, detect drift; no model in production yet -> first training run"
	$(VENV)/bin/tinymlops monitor
	@echo "== 3/5 the world shifts: on the 2 devices in 5 worn turned round, the app now names motions differently"
	$(VENV)/bin/tinymlops simulate --scenario concept-drift
	@echo "== 4/5 monitor: detects and classifies the drift -> relabel queue, oracle labels, retrain, evaluate, promote"
	$(VENV)/bin/tinymlops monitor
	@echo "== 5/5 before and after"
	$(VENV)/bin/tinymlops models list
	$(VENV)/bin/tinymlops report

# In parallel (pytest-xdist): a worker per core and one more; tests/conftest.py decides what runs together and
# starts the longest first. `.venv/bin/python -m pytest` alone still runs the suite in one process.
test: $(STAMP) firmware-toolchain tflm-libs scanners
	$(PY) -m pytest -q -n auto -p no:randomly

# If apt-get still cannot install (the lock held past APT_LOCK_TIMEOUT, or no mirror answers), this says what to
# do and make test goes on, the firmware tests skipped: they skip and say why whenever the toolchain is missing
# (as where there is no apt or no root), and the rest of the suite still runs and reports. Failing here would give
# no result at all for a machine's apt state, not for a fault of the project.
firmware-toolchain:
	@if command -v arm-none-eabi-g++ >/dev/null && command -v qemu-system-arm >/dev/null && command -v g++ >/dev/null \
	    && [ -f /usr/include/gemmlowp/fixedpoint/fixedpoint.h ]; then \
	  true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(FIRMWARE_DEBS) (Debian)"; \
	  deadline=$$(( $$(date +%s) + $(APT_LOCK_TIMEOUT) )); \
	  apt_get() { \
	    while ! err=$$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$(APT_LOCK_TIMEOUT) "$$@" 2>&1 >/dev/null); do \
	      case "$$err" in *"Could not get lock"*) ;; *) printf '%s\n' "$$err" >&2; return 1 ;; esac; \
	      if [ "$$(date +%s)" -ge "$$deadline" ]; then printf '%s\n' "$$err" >&2; return 2; fi; \
	      [ -n "$${waiting:-}" ] || echo "apt-get $$1: $$(printf '%s\n' "$$err" | head -n 1 | sed 's/^E: //')" \
	                                   "- waiting for it, up to $(APT_LOCK_TIMEOUT) s" >&2; \
	      waiting=1; sleep 10; \
	    done; \
	  }; \
	  apt_get update -qq && apt_get install -y -qq --no-install-recommends $(FIRMWARE_DEBS); rc=$$?; \
	  if [ $$rc = 2 ]; then \
	    echo "firmware-toolchain: another apt process still holds the apt/dpkg lock after $(APT_LOCK_TIMEOUT) s (above);" \
	         "wait for it and rerun make test, or install: apt-get install $(FIRMWARE_DEBS)" >&2; \
	  elif [ $$rc != 0 ]; then \
	    echo "firmware-toolchain: apt-get failed (above); rerun make test, or install: apt-get install $(FIRMWARE_DEBS)" >&2; \
	  fi; \
	  [ $$rc = 0 ] || echo "note: the firmware cross-compile and QEMU tests will be skipped" >&2; \
	else \
	  echo "note: no apt as root here: firmware cross-compile and QEMU tests will be skipped"; \
	fi

# TFLM for the Cortex-M4F, both kernel sets, from TFLM_DIR/FLATBUFFERS_DIR/CMSIS_NN_DIR (default
# ../shared/third_party): minutes the first time, then cached in ~/.cache/tinymlops/tflm (seconds).
tflm-libs: $(STAMP) firmware-toolchain
	@lacks="$$($(PY) -c 'from components.qemu_target import missing; print(*missing(), sep="; ")' 2>&1)"; \
	if [ -z "$$lacks" ]; then \
	  echo "tflm-libs: TFLM for the Cortex-M4F, reference and CMSIS-NN kernels (minutes the first time)"; \
	  $(MAKE) --no-print-directory -j2 -C firmware tflm-lib KERNELS=reference >/dev/null && \
	  $(MAKE) --no-print-directory -j2 -C firmware tflm-lib KERNELS=cmsis_nn >/dev/null && echo "tflm-libs: cached"; \
	else \
	  echo "note: the Cortex-M4 TFLM tests will be skipped: $$lacks"; \
	fi

compile: $(STAMP)
	$(VENV)/bin/tinymlops compile

# The data path at scale, one table in bench_scale.md (ingest local and S3 against pyarrow's bare parse, ingest
# into a store of 1,000,000 windows against an empty one, validate-schema in memory against TFDV on Beam, the
# monitor on 1,000,000 and 10,000,000 new windows against evidently) and the model (bench.json); the drift
# matrix (about 35 min on 2 cores, its Markdown table in bench_drift.md); the same test on real recordings
# (BasicMotions from the aeon wheel, under a minute); the fault table.
bench: $(STAMP)
	$(PY) -m tests.bench --out bench.json --markdown bench_scale.md
	$(PY) -m tests.bench_drift --out bench_drift.json --markdown bench_drift.md
	$(PY) -m tests.bench_real_drift --out bench_real_drift.json
	$(PY) -m tests.fault_cases

# The manifests agree with the configuration's cluster section (bucket, namespace, images; the ConfigMap is
# current: manifests/check_from_config.py), then render every kustomize overlay and validate it strictly
# (kubectl and kubernetes-validate come from .venv).
manifests-check: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash manifests/check.sh

# The security scanners platform teams run before deploying (tests/manifests/test_scanners.py): checkov on the rendered
# overlays, both Dockerfiles and the workflow, zizmor on the workflow, all offline. zizmor comes with .venv (dev
# extras). checkov gets its own virtualenv, .venv/checkov (inside .venv: git and the image builds ignore it):
# it pins boto3, packaging<24, networkx<2.7, termcolor<2.4 and tabulate<0.10, against the project's pinned set.
# Reinstalled only when manifests/checkov-constraints.txt changes.
CHECKOV_VENV  := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

scanners: $(STAMP) $(CHECKOV_STAMP)

$(CHECKOV_STAMP): manifests/checkov-constraints.txt | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check -q -c manifests/checkov-constraints.txt checkov
	$(CHECKOV_VENV)/bin/python -m pip check
	touch $@

scan: scanners
	$(PY) -m pytest -q tests/manifests/test_scanners.py

# ---- Images: the runtime image (every component) and the firmware builder image.
# Docker if a daemon answers, else podman, set up by manifests/engine.sh (shared/design.md).
# Evaluated once, and only by the recipes that use it: a plain := would run engine.sh on every make.
ENGINE = $(eval ENGINE := $(shell bash manifests/engine.sh name))$(ENGINE)
# BASE_IMAGE: unset picks python:3.11-slim-bookworm if it can be had, else the Debian-built base.
# Fully qualified: podman resolves short names only through its alias table.
PY_BASE    := docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE := localhost/tinymlops/base:bookworm-py3.11
# An intercepting proxy's CA reaches pip as a build secret, never as a layer of the image.
CA_BUNDLE  ?= /etc/ssl/certs/ca-certificates.crt
# install|skip; unset: install if the PlatformIO registry answers.
PIO_PLATFORMS ?=
PIO_REGISTRY  := https://api.registry.platformio.org/v3/packages/platformio/tool/tool-scons
# The TFLM, flatbuffers and CMSIS-NN trees the builder image compiles TFLM from (firmware/Dockerfile);
# absent, an empty folder: the image then says the Cortex-M4 check cannot run.
THIRD_PARTY ?= $(abspath ../shared/third_party)

images: $(STAMP)
	@test -n "$(ENGINE)" || { echo "make images: no container engine works (see manifests/engine.sh above)"; exit 1; }
	@set -e; \
	if [ -n "$(BASE_IMAGE)" ]; then base="$(BASE_IMAGE)"; why="BASE_IMAGE given"; \
	elif $(ENGINE) image inspect $(PY_BASE) >/dev/null 2>&1; then base=$(PY_BASE); why="$(ENGINE) has it"; \
	elif timeout 60 $(ENGINE) pull -q $(PY_BASE) >/dev/null 2>&1; then base=$(PY_BASE); why="pulled"; \
	else $(MAKE) --no-print-directory base-image; base=$(LOCAL_BASE); why="$(PY_BASE) cannot be pulled (no registry answers)"; fi; \
	echo "== base image: $$base ($$why)"; \
	pio="$(PIO_PLATFORMS)"; \
	if [ -n "$$pio" ]; then echo "== PIO_PLATFORMS=$$pio (given)"; \
	elif curl -sf -o /dev/null --max-time 10 $(PIO_REGISTRY); then pio=install; echo "== PIO_PLATFORMS=install (the PlatformIO registry answers)"; \
	else pio=skip; echo "== PIO_PLATFORMS=skip: the PlatformIO registry does not answer, the builder image will lack the board platforms"; fi; \
	args="--network=host --build-arg BASE_IMAGE=$$base"; \
	if [ -f "$(CA_BUNDLE)" ]; then args="$$args --secret id=ca-bundle,src=$(CA_BUNDLE)"; fi; \
	t0=$$(date +%s); \
	$(ENGINE) build $$args -f manifests/runtime.Dockerfile -t $(RUNTIME_IMAGE) .; \
	t1=$$(date +%s); echo "== $(RUNTIME_IMAGE) built in $$((t1 - t0)) s"; \
	third_party="$(THIRD_PARTY)"; \
	if [ ! -d "$$third_party/tflite-micro" ]; then third_party=$$(mktemp -d); echo "== no TFLM sources in $(THIRD_PARTY)"; fi; \
	$(ENGINE) build $$args --build-arg PIO_PLATFORMS=$$pio --build-context third_party=$$third_party \
	    -f firmware/Dockerfile -t $(BUILDER_IMAGE) .; \
	t2=$$(date +%s); echo "== $(BUILDER_IMAGE) built in $$((t2 - t1)) s"; \
	for image in $(RUNTIME_IMAGE) $(BUILDER_IMAGE); do \
	  echo "$$image $$($(ENGINE) images --format '{{.ID}} {{.Size}}' $$image | head -1)"; \
	done

# Both pipelines with every task in its image (local store and minio:// on moto), the firmware tests in the
# builder image. `images` first: with the layer cache it rebuilds only what changed, so no stale image is tested.
images-test: images
	$(PY) -m pytest -q -p no:logging -m containers tests/pipelines/test_images.py

# A Debian 12 + Python 3.11 image from the Debian archive, for where no registry answers.
base-image:
	CONTAINER_ENGINE=$(ENGINE) bash manifests/base-image.sh

# Set up the container engine and a Docker Engine API socket (for kfp.local.DockerRunner).
container-engine:
	@echo "engine: $(ENGINE)"
	@echo "DOCKER_HOST=$$(bash manifests/engine.sh socket)"

lint: $(STAMP)
	$(VENV)/bin/ruff check components pipelines tests

clean:
	rm -rf .tinymlops bench.json bench_scale.md bench_drift.json bench_drift.md bench_real_drift.json \
	       bench_monitor.json bench_monitor_features_only.json bench_ingest.json bench_validate.json bench_cycle.json
