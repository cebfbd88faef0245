#!/usr/bin/env bash
# Builds the board firmware from a folder of generated model files.
#
#   firmware/build.sh MODEL_DIR OUT_DIR [ENV...]
#
# MODEL_DIR  the files export-C-array wrote: model_data.h, model_data.cc,
#            model_settings.h, model_ops.h
# OUT_DIR    created if needed; gets, per environment that built,
#              OUT_DIR/<env>/firmware.elf, firmware.bin (and firmware.hex,
#              bootloader.bin, partitions.bin where the platform makes them)
#            and for every environment tried OUT_DIR/<env>/build.log, plus
#              OUT_DIR/sizes.json  {"<env>": {"flash_bytes", "flash_max_bytes",
#                                             "ram_bytes", "ram_max_bytes"}}
#            for the environments that built (numbers from PlatformIO's report).
# ENV        PlatformIO environments, default: nano33ble esp32
#
# Exit status: 0 every environment built; 1 at least one failed (its log says
# why; the others' binaries are still written); 2 bad arguments or a missing
# model file; 3 a tool is missing (PlatformIO, python3): nothing is written.
#
# PlatformIO ($PIO, default "pio") must have the pinned platforms and libraries
# installed: the builder image (firmware/Dockerfile) has them, so no network is
# needed. The firmware source tree is not modified: the build runs in a
# temporary copy with the model files in src/model/.
set -uo pipefail

FIRMWARE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL_ENVS=(nano33ble esp32)
MODEL_FILES=(model_data.h model_data.cc model_settings.h model_ops.h)
ARTIFACTS=(firmware.elf firmware.bin firmware.hex bootloader.bin partitions.bin)
PIO="${PIO:-pio}"

usage() {
  echo "usage: $0 MODEL_DIR OUT_DIR [ENV...]   (ENV: ${ALL_ENVS[*]}; default: all)" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
model_dir=$1
out_dir=$2
shift 2
envs=("$@")
[[ ${#envs[@]} -gt 0 ]] || envs=("${ALL_ENVS[@]}")
for env in "${envs[@]}"; do
  [[ " ${ALL_ENVS[*]} " == *" $env "* ]] || { echo "build.sh: unknown environment '$env'" >&2; usage; }
done
for name in "${MODEL_FILES[@]}"; do
  if [[ ! -f "$model_dir/$name" ]]; then
    echo "build.sh: $model_dir/$name is missing (export-C-array writes it); nothing was built" >&2
    exit 2
  fi
done

if ! command -v "$PIO" >/dev/null 2>&1; then
  echo "build.sh: PlatformIO ('$PIO') is not on PATH. Build in the builder image (firmware/Dockerfile)," \
       "which has PlatformIO with the pinned platforms and libraries. Nothing was built." >&2
  exit 3
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "build.sh: python3 is not on PATH (needed for the size report). Nothing was built." >&2
  exit 3
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tinymlops-firmware.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$FIRMWARE_DIR/platformio.ini" "$work/"
cp -R "$FIRMWARE_DIR/src" "$work/src"
rm -rf "$work/src/model"
mkdir -p "$work/src/model"
for name in "${MODEL_FILES[@]}"; do cp "$model_dir/$name" "$work/src/model/"; done

export PLATFORMIO_BUILD_DIR="$work/.pio-build"
export PLATFORMIO_SETTING_ENABLE_TELEMETRY="${PLATFORMIO_SETTING_ENABLE_TELEMETRY:-no}"
mkdir -p "$out_dir"
status=0
for env in "${envs[@]}"; do
  dest="$out_dir/$env"
  rm -rf "$dest"
  mkdir -p "$dest"
  echo "build.sh: building $env" >&2
  if "$PIO" run -d "$work" -e "$env" >"$dest/build.log" 2>&1; then
    copied=0
    for name in "${ARTIFACTS[@]}"; do
      if [[ -f "$PLATFORMIO_BUILD_DIR/$env/$name" ]]; then
        cp "$PLATFORMIO_BUILD_DIR/$env/$name" "$dest/"
        copied=$((copied + 1))
      fi
    done
    if [[ $copied -eq 0 ]]; then
      echo "build.sh: $env: PlatformIO reported success but wrote no firmware file" >&2
      status=1
    fi
  else
    echo "build.sh: $env failed; the end of $dest/build.log:" >&2
    tail -n 40 "$dest/build.log" >&2
    status=1
  fi
done

python3 "$FIRMWARE_DIR/tools/size_report.py" "$out_dir" "${envs[@]}" >"$out_dir/sizes.json" || status=1
exit $status
