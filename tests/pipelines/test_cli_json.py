"""Every command's --json: stdout is exactly one JSON document, whatever the command or its tasks print.

Run as real processes, so that output written to file descriptor 1 by subprocesses (kfp.local's tasks)
or by C++ libraries would be caught too. `monitor` and `report` are parsed the same way in the
end-to-end test (tests/pipelines/test_pipelines.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import REPO

ROOT = REPO


def _tinymlops(*args: str, cwd: Path) -> tuple[int, object, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--json"], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600, stdin=subprocess.DEVNULL)
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"tinymlops {' '.join(args)} --json: stdout is not one JSON document ({exc}):\n"
                             f"{done.stdout[:2000]}\nstderr:\n{done.stderr[-2000:]}") from exc
    return done.returncode, document, done.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_every_command_prints_one_json_document(workdir):
    store, root = str(workdir / "store"), str(workdir / "kfp")
    code, simulated, _ = _tinymlops("simulate", "--store", store, "--devices", "3", "--windows-per-device", "6",
                                    cwd=workdir)
    assert code == 0 and simulated["uploads"] == 3

    code, run, stderr = _tinymlops("run", "drift-monitor", "--store", store, "--pipeline-root", root, cwd=workdir)
    assert code == 0 and not run["failed"] and run["counts"]["windows_accepted"] == 18
    assert [t["name"] for t in run["task_lines"]] == ["ingest", "validate-schema", "detect-drift"]
    assert Path(run["log"]).is_file() and "Executing task" in Path(run["log"]).read_text()
    assert "ingest" in stderr and "full logs:" in stderr  # the person's view went to stderr

    version = run["dataset_version"]
    for args, key in [(("datasets", "list"), "versions"), (("datasets", "show", version), "version"),
                      (("schema", "show"), "version"), (("models", "list"), "models"),
                      (("labels", "queues"), "queues"), (("config",), "data"),
                      (("compile", "--out", str(workdir / "compiled")), "written")]:
        code, document, stderr = _tinymlops(*args, "--store", store, cwd=workdir)
        assert code == 0, (args, stderr)
        assert key in document, (args, sorted(document))


@pytest.mark.parametrize("args", [("kfp", "runs"), ("device", "verify", "--port", "/dev/no-such-port"),
                                  ("report",)])
def test_a_failing_command_still_prints_one_json_document(args, workdir, monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    code, document, stderr = _tinymlops(*args, "--store", str(workdir / "empty-store"), cwd=workdir)
    assert code == 1 and document["failed"] is True and document["error"]
    assert "error" in stderr
