"""Benchmark of the local continuous-training cycle, task by task (a script, not a test).

    python -m tests.bench_cycle --out bench_cycle.json

Target (issue 15): each monitor cycle, a `tinymlops monitor` together with the continuous-training run it
starts, in at most 180 s on 2 cores with the default fleet. Nothing here is asserted in a test; the numbers
are written as JSON.

What runs: exactly what `make run` runs, through the `tinymlops` command beside this interpreter
(.venv/bin/tinymlops), each call its own process, in a fresh temporary store and pipeline root (never
.tinymlops/ in the checkout), with the built-in configuration:

    tinymlops simulate --scenario baseline        (12 devices x 100 windows)
    tinymlops monitor                             cycle 1: drift-monitor + the first continuous-training run
    tinymlops simulate --scenario concept-drift
    tinymlops monitor                             cycle 2: drift-monitor (concept drift) + the retraining run

What is measured, and how:

- cycle wall seconds: from starting the `tinymlops monitor` process to its exit (time.perf_counter in this
  process), so they include the command's own start, imports, pipeline compile and kfp.local's
  orchestration. `cpu_s` is the user+system CPU time of that process and every task process it waited for
  (getrusage(RUSAGE_CHILDREN) before and after). The tasks run one after another, TensorFlow's with
  threads on both cores: cpu_s well below wall_s means the cycle waited, mostly for CPU others held.
- task wall seconds: from kfp.local's own log of each pipeline run (the file the run's summary names as
  `log`): the stamp (HH:MM:SS.mmm) of "Executing task 'x'" to that of "Task 'x' finished with status",
  ANSI colour codes removed. A task's wall is its whole subprocess: `sh`, the interpreter, kfp's executor,
  the component function, the interpreter's exit.
- `outside_tasks_s` of a cycle: its wall minus the sum of its tasks' walls (the monitor process's start
  and imports, compiling both pipelines, kfp.local between tasks, the store reads for the summary).
- per task, an ESTIMATE from separately timed parts, measured after the cycles in this same run, each part
  in fresh interpreters with the tasks' environment (`--repeat` times, the median is used):
  (a) `process_and_kfp_s`: the wall of a fresh `python -c` that imports what every task imports before our
      code: kfp.dsl.executor_main (the module `python -m` runs), kfp, `from kfp import dsl`,
      `from kfp.dsl import *`, `from typing import *` (the ephemeral module's header), with
      _KFP_RUNTIME=true as the task has it. `python -c pass` is timed too (`python_start_s`), so (a) splits
      into the bare interpreter and kfp. The `sh -ec`/mktemp/printf wrapper (milliseconds) is not included.
  (b) `component_imports_s`: the import statements at the top of the component function's body (parsed
      with ast from components/<name>/component.py; task 'validate-schema' -> function validate_schema),
      timed with perf_counter inside a fresh interpreter after (a)'s imports, as the task runs them.
      Imports the project's modules defer into their own functions are not in (b): they count as work
      (`deferred_libraries_reference` times the heavy ones alone, for reference: TensorFlow, TFDV, ...).
  work_s = task wall - (a) - (b). It is an estimate: the parts were timed in other processes, at another
  moment, under whatever load the machine had then.
- per task, OBSERVED in the run itself: kfp's executor logs with its own stamps when it is ready
  ("Looking for component"), when it has loaded the component ("Got executor_input"), and when the
  function has returned and its outputs are written ("Wrote executor output file"). From these:
  `to_executor_s` (process start and kfp's imports, as they happened), `load_component_s`,
  `function_s` (the component function: its imports and its work) and `exit_s` (after the outputs are
  written until kfp.local sees the process end: the interpreter's shutdown, e.g. TensorFlow's teardown).
- the machine's load average (1, 5, 15 min) before, between the steps, and after: this machine's 2 cores
  are shared, and other processes slow every number above down.

With --importtime (a diagnostic run, not the benchmark: the instrumentation itself costs a little), the
monitor processes and every task run with PYTHONPROFILEIMPORTTIME=1; Python's "import time:" lines land in
kfp.local's log (a task's stderr goes there) and in the command's stderr. Each task then also gets
`imports_s` under observed_in_log: the sum of the cumulative times of its top-level imports, i.e. every
import the task process performed, the ones the project defers into its functions included; and each
cycle gets `command_imports_s`, the imports of the `tinymlops monitor` process itself.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_CYCLE_S = 180.0
# The environment `make run` gives the command (the Makefile exports the first two; the CLI sets the third
# before it starts tasks, and tasks inherit it), so the fresh interpreters below import the same way.
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning"}

# kfp.local's log: "HH:MM:SS.mmm - INFO - Executing task 'x'" (the name in ANSI colour codes).
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = r"(\d\d):(\d\d):(\d\d)\.(\d{3})"
_STARTED = re.compile(rf"^{_STAMP} - \w+ - Executing task '([^']+)'")
_FINISHED = re.compile(rf"^{_STAMP} - \w+ - Task '([^']+)' finished with status (\w+)")
# kfp's executor, inside the task: "[KFP Executor 2026-12-06 22:48:33,450 INFO]: Looking for component ..."
_EXECUTOR = re.compile(r"^\s*\[KFP Executor \d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d),(\d{3}) \w+\]: "
                       r"(Looking for component|Loading KFP component|Got executor_input|Wrote executor output file"
                       r"|Did not write output file)")
# python -X importtime: "import time:  self [us] |  cumulative | name", nested imports' names indented.
_IMPORTTIME = re.compile(r"^\s*import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")
_EXECUTOR_MARKS = {"Looking for component": "ready", "Loading KFP component": "ready",
                   "Got executor_input": "loaded", "Wrote executor output file": "returned",
                   "Did not write output file": "returned"}

# What every task imports before the component function runs (kfp.dsl.executor_main run with `python -m`,
# then the ephemeral module's header, see the compiled YAML's command).
# Libraries the project's modules import inside their functions (so they count as work in the estimate):
# their cost in a fresh interpreter after the kfp prelude, for reference (they overlap: tf_keras loads
# tensorflow). Which task uses which: train (tensorflow, tf_keras, matplotlib), quantize (tfmot), evaluate
# (tflite_micro), validate-schema and detect-drift (tensorflow_data_validation), detect-drift (evidently).
DEFERRED_LIBRARIES = ("import tensorflow", "import tf_keras", "import tensorflow_model_optimization",
                      "import tensorflow_data_validation", "import evidently", "import matplotlib.pyplot",
                      "from tflite_micro import runtime")
KFP_PRELUDE = ("import kfp.dsl.executor_main\nimport kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\n"
               "from typing import *\n")


# ---- kfp.local's log -------------------------------------------------------------------------------------

def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _after(start: float, stamp: float) -> float:
    """Seconds from `start` to `stamp`, both seconds of the day (a run may pass midnight)."""
    return round((stamp - start) % 86400, 3)


def parse_task_log(log: Path) -> list[dict]:
    """Each task of one kfp.local run, in order: its wall seconds and status from kfp.local's stamps, and the
    phases kfp's executor logged inside it (see the module's docstring)."""
    tasks: list[dict] = []
    current: dict | None = None
    for raw in log.read_text(errors="replace").splitlines():
        line = _ANSI.sub("", raw)
        if match := _STARTED.match(line):
            current = {"task": match.group(5), "start": _seconds(*match.group(1, 2, 3, 4)), "marks": {},
                       "imports_us": None}
            tasks.append(current)
        elif (match := _FINISHED.match(line)) and current and current["task"] == match.group(5):
            current["end"], current["status"] = _seconds(*match.group(1, 2, 3, 4)), match.group(6)
            current = None
        elif (match := _EXECUTOR.match(line)) and current:
            current["marks"].setdefault(_EXECUTOR_MARKS[match.group(5)], _seconds(*match.group(1, 2, 3, 4)))
        elif (match := _IMPORTTIME.match(line)) and current:
            current["imports_us"] = (current["imports_us"] or 0) + int(match.group(1))
    out = []
    for task in tasks:
        if "end" not in task:  # the run stopped inside it
            out.append({"task": task["task"], "status": "unfinished", "wall_s": None})
            continue
        entry = {"task": task["task"], "status": task["status"], "wall_s": _after(task["start"], task["end"])}
        marks, observed, previous = task["marks"], {}, task["start"]
        for mark, name in (("ready", "to_executor_s"), ("loaded", "load_component_s"), ("returned", "function_s")):
            if mark in marks:
                observed[name] = _after(previous, marks[mark])
                previous = marks[mark]
        if "returned" in marks:
            observed["exit_s"] = _after(marks["returned"], task["end"])
        if task["imports_us"] is not None:  # --importtime
            observed["imports_s"] = round(task["imports_us"] / 1e6, 3)
            observed["wall_minus_imports_s"] = round(entry["wall_s"] - observed["imports_s"], 3)
        entry["observed_in_log"] = observed
        out.append(entry)
    return out


# ---- the components and their imports --------------------------------------------------------------------

def component_functions() -> dict[str, tuple[Path, ast.FunctionDef]]:
    """Task name -> (component.py, the component function), for every components/*/component.py.
    kfp.local names a task after its component function, '_' -> '-' (validate_schema -> validate-schema)."""
    found = {}
    for path in sorted((ROOT / "components").glob("*/component.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                found[node.name.replace("_", "-")] = (path, node)
    return found


def function_imports(function: ast.FunctionDef) -> list[str]:
    """The `import` / `from ... import` statements at the top of a function's body (after its docstring)."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    imports = []
    for statement in body:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            break
        imports.append(ast.unparse(statement))
    return imports


def task_component(task: str, components: dict) -> str | None:
    """The component a task runs: its own name, or with kfp's '-2', '-3', ... suffix for a repeated one."""
    if task in components:
        return task
    base = re.sub(r"-\d+$", "", task)
    return base if base in components else None


# ---- fresh interpreters ----------------------------------------------------------------------------------

_IMPORTS_CHILD = """\
import json, sys, time
t0 = time.perf_counter()
{prelude}t1 = time.perf_counter()
before = len(sys.modules)
{imports}
t2 = time.perf_counter()
print("BENCH_CYCLE " + json.dumps({{"prelude_s": t1 - t0, "imports_s": t2 - t1,
                                    "modules_added": len(sys.modules) - before,
                                    "tensorflow_loaded": "tensorflow" in sys.modules}}))
"""


def _fresh(code: str, env: dict) -> tuple[float, dict | None]:
    """Run `python -c code` in a fresh interpreter: its wall seconds as seen from here, and what it reported."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"a fresh interpreter failed ({done.returncode}):\n{code}\n{done.stderr[-2000:]}")
    reported = [line for line in done.stdout.splitlines() if line.startswith("BENCH_CYCLE ")]
    return wall, json.loads(reported[-1].split(" ", 1)[1]) if reported else None


def _median(samples: list[float]) -> dict:
    return {"median_s": round(statistics.median(samples), 3), "samples_s": [round(s, 3) for s in samples]}


def import_costs(task_names: list[str], repeat: int) -> dict:
    """(a) and (b) of the module's docstring, each `repeat` times in fresh interpreters, interleaved."""
    env = {**os.environ, **TASK_ENV, "_KFP_RUNTIME": "true"}
    components = component_functions()
    wanted = sorted({c for c in (task_component(t, components) for t in task_names) if c})
    python_start, prelude_wall, prelude_in = [], [], []
    per_component: dict[str, dict] = {
        name: {"component": f"{components[name][0].relative_to(ROOT)}:{components[name][1].name}",
               "imports": function_imports(components[name][1]), "samples": []} for name in wanted}
    for _ in range(repeat):
        python_start.append(_fresh("pass", env)[0])
        wall, reported = _fresh(_IMPORTS_CHILD.format(prelude=KFP_PRELUDE, imports="pass"), env)
        prelude_wall.append(wall)
        prelude_in.append(reported["prelude_s"])
        for entry in per_component.values():
            code = _IMPORTS_CHILD.format(prelude=KFP_PRELUDE, imports="\n".join(entry["imports"]) or "pass")
            entry["samples"].append(_fresh(code, env)[1])
    deferred: dict[str, list[float]] = {statement: [] for statement in DEFERRED_LIBRARIES}
    errors = {}
    for _ in range(repeat):
        for statement, samples in deferred.items():
            try:
                samples.append(_fresh(_IMPORTS_CHILD.format(prelude=KFP_PRELUDE, imports=statement), env)[1]
                               ["imports_s"])
            except RuntimeError as exc:  # a reference only: say so, measure the rest
                errors[statement] = str(exc).splitlines()[-1]
    result = {
        "python_start_s": _median(python_start),
        "process_and_kfp_s": _median(prelude_wall),
        "kfp_imports_in_process_s": _median(prelude_in),
        "components": {},
    }
    for name, entry in per_component.items():
        samples = entry.pop("samples")
        result["components"][name] = {
            **entry, **_median([s["imports_s"] for s in samples]),
            "modules_added": samples[-1]["modules_added"], "tensorflow_loaded": samples[-1]["tensorflow_loaded"]}
    result["deferred_libraries_reference"] = {
        "note": "each alone after the kfp prelude, in fresh interpreters; NOT subtracted: where a task imports "
                "them inside the project's functions, they are part of its work estimate",
        **{statement: _median(samples) for statement, samples in deferred.items() if samples},
        **{statement: {"error": error} for statement, error in errors.items()}}
    return result


# ---- the cycle -------------------------------------------------------------------------------------------

def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _importtime_s(text: str) -> float:
    """All imports a process performed, from its `python -X importtime` lines (top-level cumulative times)."""
    return round(sum(int(m.group(1)) for line in text.splitlines()
                     if (m := _IMPORTTIME.match(line)) and not m.group(2).startswith(" ")) / 1e6, 3)


def _tinymlops(args: list[str], store: Path, pipeline_root: Path | None, stderr_path: Path,
               importtime: bool = False) -> dict:
    """One `tinymlops ... --json` process: its summary, wall seconds and CPU seconds (it and its tasks)."""
    command = [str(Path(sys.executable).with_name("tinymlops")), *args, "--store", str(store), "--json"]
    if pipeline_root is not None:
        command += ["--pipeline-root", str(pipeline_root)]
    env = {k: v for k, v in os.environ.items() if k not in ("TINYMLOPS_STORE", "PYTHONPROFILEIMPORTTIME")} | TASK_ENV
    if importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(stderr_path, "w") as stderr:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {"failed": True, "error": f"no JSON on stdout; stderr ends: {stderr_path.read_text()[-2000:]}"}
    call = {"command": " ".join(["tinymlops", *args]), "exit_code": done.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "summary": summary}
    if importtime:
        call["command_imports_s"] = _importtime_s(stderr_path.read_text(errors="replace"))
    return call


def _pipeline_runs(summary: dict) -> list[dict]:
    """The pipeline runs one `tinymlops monitor` made: drift-monitor, then the training run it started."""
    runs = [summary]
    run = summary.get("trigger", {}).get("run")
    if run and run.get("where") == "local":
        runs.append(run)
    out = []
    for run in runs:
        log = Path(run["log"]) if run.get("log") else None
        tasks = parse_task_log(log) if log and log.exists() else []
        out.append({"pipeline": run.get("pipeline"), "failed": run.get("failed"), "log": str(log),
                    "tasks_s": round(sum(t["wall_s"] or 0 for t in tasks), 2), "tasks": tasks})
    return out


def _cycle(number: int, label: str, call: dict) -> dict:
    summary = call["summary"]
    pipelines = _pipeline_runs(summary) if "log" in summary else []
    tasks_s = sum(p["tasks_s"] for p in pipelines)
    trigger = summary.get("trigger", {})
    run = trigger.get("run", {})
    return {
        "cycle": number, "what": label, "command": call["command"], "exit_code": call["exit_code"],
        "failed": bool(summary.get("failed")) or call["exit_code"] != 0, "error": summary.get("error"),
        "wall_s": call["wall_s"], "target_s": TARGET_CYCLE_S, "within_target": call["wall_s"] <= TARGET_CYCLE_S,
        "cpu_s": call["cpu_s"], "tasks_s": round(tasks_s, 2), "outside_tasks_s": round(call["wall_s"] - tasks_s, 2),
        "drift_decision": (summary.get("drift") or {}).get("decision"),
        "trigger": trigger.get("reason"), "model_version": run.get("model_version"),
        "promoted": bool(run.get("model_version")) and run.get("production") == run.get("model_version"),
        "pipelines": pipelines,
        **({"command_imports_s": call["command_imports_s"]} if "command_imports_s" in call else {}),
    }


def _estimate(cycles: list[dict], imports: dict) -> None:
    """Add each task's estimate (a), (b), work = wall - (a) - (b) next to its wall seconds."""
    components = component_functions()
    a = imports["process_and_kfp_s"]["median_s"]
    for cycle in cycles:
        for pipeline in cycle["pipelines"]:
            for task in pipeline["tasks"]:
                name = task_component(task["task"], components)
                b = imports["components"][name]["median_s"] if name in imports["components"] else None
                if task["wall_s"] is None or b is None:
                    continue
                task["estimate"] = {"process_and_kfp_s": a, "component_imports_s": b,
                                    "work_s": round(task["wall_s"] - a - b, 3),
                                    "note": "estimate: wall minus (a) and (b) timed separately in fresh interpreters"}


def _by_task(cycles: list[dict]) -> list[dict]:
    """Every task of every run, largest wall first: where the cycle's seconds go."""
    rows = []
    for cycle in cycles:
        for pipeline in cycle["pipelines"]:
            for task in pipeline["tasks"]:
                estimate, observed = task.get("estimate", {}), task.get("observed_in_log", {})
                rows.append({"cycle": cycle["cycle"], "pipeline": pipeline["pipeline"], "task": task["task"],
                             "wall_s": task["wall_s"], "share_of_cycle": round((task["wall_s"] or 0)
                                                                              / cycle["wall_s"], 3),
                             "imports_est_s": round(estimate["process_and_kfp_s"]
                                                    + estimate["component_imports_s"], 3) if estimate else None,
                             "work_est_s": estimate.get("work_s"), "function_s": observed.get("function_s"),
                             "exit_s": observed.get("exit_s")})
    return sorted(rows, key=lambda r: -(r["wall_s"] or 0))


def bench_cycle(repeat: int = 3, workdir: Path | None = None, importtime: bool = False) -> dict:
    """Run the cycle and measure it (see the module's docstring); `workdir` keeps the store and logs;
    `importtime`: the diagnostic run with PYTHONPROFILEIMPORTTIME=1 in the monitor processes and their tasks."""
    temporary = workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench_cycle_")) if temporary else workdir.resolve()
    store, pipeline_root = work / "store", work / "pipeline-root"
    store.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "what": "the local continuous-training cycle of `make run`: two `tinymlops monitor` cycles on the "
                "default fleet (12 simulated devices x 100 windows, synthetic), each with its training run",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "environment": TASK_ENV | ({"PYTHONPROFILEIMPORTTIME": "1 (monitor processes and tasks)"} if importtime
                                   else {}),
        "importtime": importtime, "workdir": str(work) if not temporary else "(temporary, removed)",
        "load_average_before": _load(), "load_average_steps": [],
    }
    steps = [
        ("simulate baseline", ["simulate", "--scenario", "baseline"], False),
        ("monitor: drift-monitor + the first continuous-training run", ["monitor"], True),
        ("simulate concept-drift", ["simulate", "--scenario", "concept-drift"], False),
        ("monitor: drift-monitor (concept drift) + the retraining run", ["monitor"], True),
    ]
    calls, cycles = [], []
    try:
        for i, (label, args, is_cycle) in enumerate(steps, 1):
            print(f"bench_cycle: {i}/{len(steps)} {label} ...", file=sys.stderr, flush=True)
            call = _tinymlops(args, store, pipeline_root if is_cycle else None, work / f"step{i}.stderr",
                              importtime and is_cycle)
            print(f"bench_cycle:   {call['wall_s']:.1f} s wall, {call['cpu_s']:.1f} s CPU, exit {call['exit_code']}",
                  file=sys.stderr, flush=True)
            result["load_average_steps"].append({"after": label, "load": _load()})
            if is_cycle:
                cycles.append(_cycle(len(cycles) + 1, label, call))
                if cycles[-1]["failed"]:
                    print(f"bench_cycle: the cycle failed: {cycles[-1]['error']}", file=sys.stderr)
                    break
            else:
                calls.append({k: v for k, v in call.items() if k != "summary"}
                             | {"failed": bool(call["summary"].get("failed"))})
        task_names = [t["task"] for c in cycles for p in c["pipelines"] for t in p["tasks"]]
        print(f"bench_cycle: timing process start and imports in fresh interpreters ({repeat}x) ...",
              file=sys.stderr, flush=True)
        try:
            imports = import_costs(task_names, repeat)
            _estimate(cycles, imports)
        except RuntimeError as exc:  # keep the cycles' numbers: they took minutes
            imports = {"error": str(exc)}
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    result.update({
        "target_cycle_s": TARGET_CYCLE_S,
        "cycles_wall_s": [c["wall_s"] for c in cycles],
        "all_within_target": bool(cycles) and len(cycles) == 2 and all(c["within_target"] for c in cycles),
        "simulate": calls, "cycles": cycles, "process_and_imports": imports,
        "tasks_by_wall": _by_task(cycles),
        "load_average_after": _load(),
    })
    return result


def _brief(result: dict) -> str:
    lines = [f"load average before {result['load_average_before']}, after {result['load_average_after']} "
             f"({result['machine']['cpus']} CPUs)"]
    a = result["process_and_imports"]
    if "error" in a:
        lines.append(f"import timings failed: {a['error']}")
    else:
        lines.append(f"fresh task process + kfp imports (a): {a['process_and_kfp_s']['median_s']:.2f} s "
                     f"(python -c pass {a['python_start_s']['median_s']:.2f} s)")
        lines += [f"  deferred {k}: {v['median_s']:.2f} s" for k, v in a["deferred_libraries_reference"].items()
                  if isinstance(v, dict) and "median_s" in v]
    for cycle in result["cycles"]:
        lines.append(f"cycle {cycle['cycle']}: {cycle['wall_s']:.1f} s wall (target {cycle['target_s']:.0f} s, "
                     f"{'met' if cycle['within_target'] else 'MISSED'}), {cycle['cpu_s']:.1f} s CPU; tasks "
                     f"{cycle['tasks_s']:.1f} s, outside tasks {cycle['outside_tasks_s']:.1f} s")
        for pipeline in cycle["pipelines"]:
            lines.append(f"  {pipeline['pipeline']}:")
            for task in pipeline["tasks"]:
                est, obs = task.get("estimate", {}), task.get("observed_in_log", {})
                lines.append(f"    {task['task']:<16} {task['wall_s'] or 0:7.2f} s"
                             + (f"  (a) {est['process_and_kfp_s']:.2f} (b) {est['component_imports_s']:.2f}"
                                f" work~{est['work_s']:.2f}" if est else "")
                             + (f"  | in log: function {obs['function_s']:.2f} exit {obs.get('exit_s', 0):.2f}"
                                if "function_s" in obs else "")
                             + (f" all imports {obs['imports_s']:.2f}" if "imports_s" in obs else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_cycle.json", help="where to write the JSON")
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per import measurement")
    parser.add_argument("--importtime", action="store_true",
                        help="diagnostic: every import each task performs, from python -X importtime (adds a little "
                             "time to every task; not the benchmark's numbers)")
    parser.add_argument("--workdir", type=Path, help="keep the store, pipeline root and logs here (default: a "
                                                     "temporary folder, removed afterwards)")
    args = parser.parse_args(argv)
    result = bench_cycle(repeat=args.repeat, workdir=args.workdir, importtime=args.importtime)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(_brief(result))
    print(f"written: {args.out}")
    # A missed target is a result, not an error (make bench goes on); a cycle that failed measured nothing.
    return 1 if len(result["cycles"]) < 2 or any(c["failed"] for c in result["cycles"]) else 0


if __name__ == "__main__":
    sys.exit(main())
