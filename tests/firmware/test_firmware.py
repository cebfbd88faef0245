"""Firmware: host unit tests, the generated model files on both compilers, the QEMU smoke, build.sh's interface.

The board builds themselves need PlatformIO with the boards' cores (the builder
image, firmware/Dockerfile); what runs here is everything else: the plain C++
application with g++ (make host-test), the generated files compiled by g++ and
by arm-none-eabi-g++ for the Cortex-M4F, the application with the generated
model on a Cortex-M4F under QEMU (make qemu-smoke), and build.sh with a stand-in
for PlatformIO. Tests that need a missing compiler or emulator are skipped with
the apt package to install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests import REPO

ROOT = REPO
FIRMWARE = ROOT / "firmware"
MODEL_FILES = ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h")
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-ffunction-sections",
             "-fdata-sections"]
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-fno-exceptions", "-fno-rtti"]
TIMEOUT_S = 180  # hard limit for any one subprocess; QEMU itself is limited to 60 s by the Makefile


def _missing(*tools: str) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def _skip_unless(*tools: str, package: str):
    missing = _missing(*tools)
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (apt-get install {package})")


needs_gpp = _skip_unless("g++", "make", "objcopy", package="g++ make binutils")
needs_arm = _skip_unless("arm-none-eabi-g++", "arm-none-eabi-gcc", "arm-none-eabi-objcopy",
                         package="gcc-arm-none-eabi libnewlib-arm-none-eabi")
needs_qemu = _skip_unless("qemu-system-arm", package="qemu-system-arm")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, **kwargs)


def _ok(done: subprocess.CompletedProcess) -> str:
    command = " ".join(map(str, done.args))
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def exported(small_int8_model, tmp_path_factory):
    """The generated files of a real small model, in a folder, with what the host knows about them."""
    from components.c_sources import export_c_array

    tflite, config, arena, windows = small_int8_model
    model_dir = tmp_path_factory.mktemp("model")
    files = export_c_array(tflite, config, arena)
    assert sorted(files) == sorted(MODEL_FILES)  # what build.sh and the Makefile expect
    for name, data in files.items():
        (model_dir / name).write_bytes(data)
    return SimpleNamespace(tflite=tflite, config=config, windows=np.asarray(windows, dtype=np.float32),
                           model_dir=model_dir)


# --- host unit tests -------------------------------------------------------------------------------------------


@needs_gpp
def test_host_unit_tests_pass(tmp_path):
    out = _ok(_run(["make", "-j2", "-C", str(FIRMWARE), "host-test", f"BUILD={tmp_path}"]))
    summary = re.search(r"^(\d+) passed, (\d+) failed$", out, re.MULTILINE)
    assert summary, out
    assert int(summary[1]) >= 40 and summary[2] == "0", out


# --- the generated files on both compilers ---------------------------------------------------------------------


def _array_bytes(model_data_cc: str) -> bytes:
    body = model_data_cc.split("g_model[] = {", 1)[1].split("};", 1)[0]
    return bytes(int(token, 16) for token in re.findall(r"0x([0-9a-f]{2})", body))


def _compile_and_extract(compiler: str, objcopy: str, flags: list[str], model_dir: Path, out: Path) -> bytes:
    """Compiles model_data.cc and a unit using model_settings.h; returns the bytes of g_model's section."""
    obj = out / "model_data.o"
    _ok(_run([compiler, *flags, f"-I{model_dir}", "-c", str(model_dir / "model_data.cc"), "-o", str(obj)]))
    _ok(_run([compiler, *flags, f"-I{model_dir}", f"-I{FIRMWARE / 'src/app'}", "-c",
              str(FIRMWARE / "src/app/current_model.cc"), "-o", str(out / "current_model.o")]))
    blob = out / "g_model.bin"
    _ok(_run([objcopy, "-O", "binary", "--only-section=.rodata.g_model", str(obj), str(blob)]))
    return blob.read_bytes()


def test_model_data_array_is_the_tflite(exported):
    text = (exported.model_dir / "model_data.cc").read_text()
    assert _array_bytes(text) == exported.tflite
    assert f"g_model_len = {len(exported.tflite)};" in text
    assert "alignas(16) const unsigned char g_model[]" in text


@needs_gpp
def test_generated_files_compile_with_gpp(exported, tmp_path):
    assert _compile_and_extract("g++", "objcopy", CXX_FLAGS, exported.model_dir, tmp_path) == exported.tflite
    # main.cpp and src/board/ for both boards, and model_ops.h against TFLM's real Add* names (API stubs).
    _ok(_run(["make", "-C", str(FIRMWARE), "board-check", f"MODEL_DIR={exported.model_dir}"]))


@needs_arm
def test_generated_files_compile_for_cortex_m4(exported, tmp_path):
    blob = _compile_and_extract("arm-none-eabi-g++", "arm-none-eabi-objcopy", CXX_FLAGS + ARM_FLAGS,
                                exported.model_dir, tmp_path)
    assert blob == exported.tflite
    headers = _ok(_run(["arm-none-eabi-objdump", "-h", str(tmp_path / "model_data.o")]))
    section = next(line for line in headers.splitlines() if line.split()[1:2] == [".rodata.g_model"])
    assert section.split()[-1] == "2**4", section  # 16-byte aligned on the target ABI too


# --- the smoke test: the application with the generated model, natively and on a Cortex-M4F under QEMU ----------


def _edge_window(window: np.ndarray) -> np.ndarray:
    """A window with values at the quantization edges: zeros, tiny values, clamping (large of both signs)."""
    window = window.copy()
    edges = [0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6, 3e38, -3e38]
    t_count, c_count = window.shape
    for t in range(t_count):
        for c in range(c_count):
            if (t + c) % 3 == 0:
                window[t, c] = edges[(t * c_count + c) % len(edges)]
    return window


def _tie_values(window: np.ndarray, quantization) -> np.ndarray:
    """Overwrites some values with (k + 0.5) * scale in float32: x / scale lands on or next to a tie."""
    window = window.copy()
    for q_index, (channels, scale) in enumerate(quantization):
        for t in range(1, window.shape[0], 4):
            k = (t * 7 + q_index * 13) % 200 - 100
            window[t, channels[t % len(channels)]] = np.float32(k + 0.5) * np.float32(scale)
    return window


def _smoke_inputs(exported, out: Path):
    """smoke_data.h: windows, the host's int8 inputs for them and the windows as W lines."""
    from components.device.protocol import WindowCommand
    from components.int8_model import Int8Model
    from components.model_inputs import input_groups

    groups = input_groups(exported.config.data)
    model = Int8Model(exported.tflite, groups)
    edge = _tie_values(_edge_window(exported.windows[0]),
                       [(g.channels, q.scale) for g, q in zip(groups, model.inputs, strict=True)])
    windows = np.concatenate([exported.windows[:3], edge[None]]).astype(np.float32)
    with np.errstate(over="ignore"):  # 3e38 / scale overflows to inf on purpose: it must clamp to 127
        quantized = model.quantize(windows)  # one [N, T, 1, c] int8 array per group, in model_settings' order
    expected = np.concatenate([q.reshape(len(windows), -1) for q in quantized], axis=1)
    n, t_count, c_count = windows.shape

    def floats(row):
        return ", ".join(float(v).hex() + "f" for v in row)

    # The W lines exactly as the host tools send them (shortest float32 text, PROTOCOL.md 4.1).
    w_lines = [WindowCommand.of(window).to_line() for window in windows]
    header = ["// Generated by tests/firmware/test_firmware.py for the smoke test. Do not edit.",
              "#include <cstdint>", "",
              "namespace smoke {", f"constexpr int kWindowCount = {n};",
              f"constexpr int kValuesPerWindow = {t_count * c_count};",
              f"constexpr int kExpectedPerWindow = {expected.shape[1]};",
              "const float kWindows[kWindowCount][kValuesPerWindow] = {"]
    header += ["    {" + floats(window.reshape(-1)) + "}," for window in windows]
    header += ["};", "const int8_t kExpected[kWindowCount][kExpectedPerWindow] = {"]
    header += ["    {" + ", ".join(str(int(v)) for v in row) + "}," for row in expected]
    header += ["};", "const char* const kWLines[kWindowCount] = {"]
    header += [f'    "{line}",' for line in w_lines]
    header += ["};", "}  // namespace smoke", ""]
    smoke_dir = out / "smoke"
    smoke_dir.mkdir()
    (smoke_dir / "smoke_data.h").write_text("\n".join(header))
    return smoke_dir, windows, expected.size


def _check_protocol_lines(out: str, exported, windows: np.ndarray) -> None:
    """The smoke's protocol lines through the host's own parser: READY, a Y per W, one collected window."""
    from components.device.protocol import (
        Ready,
        Sample,
        VerifyReply,
        WindowEnd,
        WindowStart,
        model_id,
        parse_board_line,
        ready_mismatches,
        window_crc,
    )

    data = exported.config.data
    messages = [parse_board_line(line.removeprefix("proto: ")) for line in out.splitlines()
                if line.startswith("proto: ")]
    readies = [m for m in messages if isinstance(m, Ready)]
    assert [r.mode for r in readies] == ["verify", "verify", "collect"]
    for ready in readies:
        assert ready.device_id == "qemu-smoke" and ready.model == model_id(exported.tflite)
        assert ready_mismatches(ready, data, classes=True) == []
    replies = [m for m in messages if isinstance(m, VerifyReply)]
    assert len(replies) == len(windows) and all(len(r.scores) == len(data.class_names) for r in replies)

    start = next(i for i, m in enumerate(messages) if isinstance(m, WindowStart))
    assert messages[start] == WindowStart("1", data.class_names[0])
    samples = messages[start + 1:start + 1 + data.window_length]
    assert all(isinstance(m, Sample) for m in samples)
    end = messages[start + 1 + data.window_length]
    assert isinstance(end, WindowEnd) and end.window_id == "1"
    payloads = [m.payload for m in samples]
    assert end.crc == window_crc(payloads) == f"{zlib.crc32(''.join(p + chr(10) for p in payloads).encode()):08x}"
    assert np.all(np.diff([m.t_ms for m in samples]) > 0)  # t_ms rises
    # The sensor plays window 0's rows; S lines carry them with 4 decimals.
    assert np.allclose([m.values for m in samples], windows[0], atol=0.5e-4 + 1e-6, rtol=1e-7)


def _smoke(target: str, exported, tmp_path: Path, smoke_dir: Path, crc: int) -> subprocess.CompletedProcess:
    return _run(["make", "--no-print-directory", "-C", str(FIRMWARE), target, f"BUILD={tmp_path / 'build'}",
                 f"MODEL_DIR={exported.model_dir}", f"SMOKE_DIR={smoke_dir}",
                 f"SMOKE_MODEL_LEN={len(exported.tflite)}", f"SMOKE_MODEL_CRC=0x{crc:08x}"])


@needs_gpp
def test_smoke_native(exported, tmp_path):
    smoke_dir, windows, _ = _smoke_inputs(exported, tmp_path)
    out = _ok(_smoke("smoke-native", exported, tmp_path, smoke_dir, zlib.crc32(exported.tflite)))
    assert out.splitlines()[-1] == "PASS", out
    _check_protocol_lines(out, exported, windows)


@needs_arm
@needs_qemu
def test_qemu_smoke_on_cortex_m4(exported, tmp_path):
    smoke_dir, windows, expected_count = _smoke_inputs(exported, tmp_path)
    out = _ok(_smoke("qemu-smoke", exported, tmp_path, smoke_dir, zlib.crc32(exported.tflite)))
    lines = out.splitlines()
    assert lines[-1] == "PASS" and not any(line.startswith("FAIL") for line in lines), out
    quantized = next(line for line in lines if line.startswith("smoke: quantization:"))
    assert f"{expected_count} of {expected_count}" in quantized, quantized
    _check_protocol_lines(out, exported, windows)


@needs_arm
@needs_qemu
def test_qemu_smoke_fails_with_a_status_when_the_target_disagrees(exported, tmp_path):
    smoke_dir, _, _ = _smoke_inputs(exported, tmp_path)
    done = _smoke("qemu-smoke", exported, tmp_path, smoke_dir, zlib.crc32(exported.tflite) ^ 1)
    assert done.returncode != 0
    assert "FAIL: CRC-32 of g_model" in done.stdout and done.stdout.splitlines()[-1] == "FAIL 1", done.stdout


# --- build.sh's interface (the firmware-build pipeline step calls it) -------------------------------------------


FAKE_PIO = """#!/usr/bin/env bash
# Stands in for PlatformIO: checks the staged project and writes what `pio run` writes.
set -e
[[ "$1" == run && "$2" == -d && "$4" == -e ]] || { echo "unexpected arguments: $*"; exit 9; }
work=$3; env=$5
for f in platformio.ini src/main.cpp src/app/app.cc src/model/model_data.cc src/model/model_ops.h; do
  [[ -f "$work/$f" ]] || { echo "not staged: $f"; exit 9; }
done
[[ "$env" == "$FAIL_ENV" ]] && { echo "compilation terminated."; exit 1; }
mkdir -p "$PLATFORMIO_BUILD_DIR/$env"
echo "elf $env" > "$PLATFORMIO_BUILD_DIR/$env/firmware.elf"
echo "bin $env" > "$PLATFORMIO_BUILD_DIR/$env/firmware.bin"
echo "RAM:   [==        ]  15.6% (used 51124 bytes from 327680 bytes)"
echo "Flash: [======    ]  61.6% (used 194000 bytes from 1310720 bytes)"
"""


def _build_sh(model_dir: Path, out: Path, *envs: str, **env) -> subprocess.CompletedProcess:
    return _run(["bash", str(FIRMWARE / "build.sh"), str(model_dir), str(out), *envs], env={**os.environ, **env})


def _fake_pio(tmp_path: Path) -> Path:
    pio = tmp_path / "fake-pio"
    pio.write_text(FAKE_PIO)
    pio.chmod(pio.stat().st_mode | stat.S_IEXEC)
    return pio


def test_each_board_has_one_name_in_config_platformio_ini_and_build_sh():
    """evaluate.boards' names are the PlatformIO environments (build.sh's and the builder image's), which name
    the build's output folders."""
    from components.config import EvaluateConfig

    names = [board.name for board in EvaluateConfig().boards]
    ini = (FIRMWARE / "platformio.ini").read_text()
    assert re.findall(r"^\[env:(\w+)\]", ini, re.MULTILINE) == names
    assert re.search(r"^default_envs = (.*)$", ini, re.MULTILINE).group(1).split(", ") == names
    build_sh = (FIRMWARE / "build.sh").read_text()
    assert re.search(r"^ALL_ENVS=\((.*)\)$", build_sh, re.MULTILINE).group(1).split() == names
    warmup = re.search(r"pio run -d /tmp/warmup(.*)$", (FIRMWARE / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert re.findall(r"-e (\w+)", warmup) == names


def test_build_sh_without_platformio_says_so_and_builds_nothing(exported, tmp_path):
    done = _build_sh(exported.model_dir, tmp_path / "out", PIO=str(tmp_path / "no-such-pio"))
    assert done.returncode == 3, done.stderr
    assert "PlatformIO" in done.stderr and "Dockerfile" in done.stderr
    assert not (tmp_path / "out").exists()


def test_build_sh_rejects_missing_model_files_and_unknown_envs(exported, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(exported.model_dir / "model_data.cc", partial)
    done = _build_sh(partial, tmp_path / "out", PIO=str(_fake_pio(tmp_path)))
    assert done.returncode == 2 and "model_data.h is missing" in done.stderr
    assert _build_sh(exported.model_dir, tmp_path / "out", "uno", PIO=str(_fake_pio(tmp_path))).returncode == 2
    assert _run(["bash", str(FIRMWARE / "build.sh")]).returncode == 2


def test_build_sh_writes_binaries_and_sizes_per_board(exported, tmp_path):
    out = tmp_path / "out"
    done = _build_sh(exported.model_dir, out, PIO=str(_fake_pio(tmp_path)))
    assert done.returncode == 0, done.stderr
    for env in ("nano33ble", "esp32"):
        assert (out / env / "firmware.bin").read_text() == f"bin {env}\n"
        assert (out / env / "firmware.elf").is_file() and (out / env / "build.log").is_file()
    sizes = json.loads((out / "sizes.json").read_text())
    assert sizes["esp32"] == {"flash_bytes": 194000, "flash_max_bytes": 1310720, "ram_bytes": 51124,
                              "ram_max_bytes": 327680}
    assert not (FIRMWARE / "src" / "model").exists()  # the source tree is not touched


def test_build_sh_reports_a_failed_board_and_keeps_the_other(exported, tmp_path):
    out = tmp_path / "out"
    done = _build_sh(exported.model_dir, out, PIO=str(_fake_pio(tmp_path)), FAIL_ENV="esp32")
    assert done.returncode == 1
    assert "esp32 failed" in done.stderr and "compilation terminated." in done.stderr
    assert (out / "nano33ble" / "firmware.bin").is_file()
    assert not any((out / "esp32").glob("firmware.*"))
    assert set(json.loads((out / "sizes.json").read_text())) == {"nano33ble"}
