"""Compile pipelines to YAML and run them on this machine under kfp.local (their summaries: run_summary.py)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

from components.config import Config
from components.store import LocalStore, Store, StoreError

COMPILED_DIR = Path(__file__).parent / "compiled"


def compile_all(out_dir: Path, config: Config | None = None) -> list[Path]:
    """Compile every pipeline for a cluster: images, store and configuration defaults from `config`
    (default: the built-in configuration as a cluster runs it)."""
    from kfp import compiler

    from pipelines.catalog import PIPELINES, build_pipeline
    from pipelines.common import cluster_default

    config = config or cluster_default()
    defaults = {"store_url": config.cluster.store_url, "config_json": config.to_json()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PIPELINES:
        path = out_dir / f"{name.replace('-', '_')}.yaml"
        compiler.Compiler().compile(build_pipeline(name, config.cluster), str(path), pipeline_parameters=defaults)
        written.append(path)
    return written


RUNNERS = ("subprocess", "container")


def run_pipeline(name: str, store: Store, config: Config, pipeline_root: Path, runner: str = "subprocess",
                 verbose: bool = False) -> dict:
    """Run one pipeline locally and summarise it from the store. Each task runs as a subprocess in this
    virtualenv, or with runner="container" in its component's image (pipelines/containers.py). The console
    shows one line per task; kfp.local's full logs go to <pipeline_root>/logs/ (`verbose` streams them too)."""
    from components.datasets import list_versions
    from pipelines.catalog import build_pipeline
    from pipelines.console import quiet_run
    from pipelines.run_summary import drift_monitor_summary, summary_text, task_error, training_summary

    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}: expected one of {RUNNERS}")
    pipeline = build_pipeline(name, config.cluster)
    pipeline_root = pipeline_root.resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    # A local folder must be absolute: each task is a subprocess (or container) and may not share our cwd.
    store_url = str(store.root) if isinstance(store, LocalStore) else store.url
    log = pipeline_root / "logs" / f"{time.strftime('%Y%m%dT%H%M%S')}-{name}.log"
    print(f"{name}: running ({runner}); full logs: {log}", file=sys.stderr, flush=True)
    with (_tasks_run_in(runner, store, pipeline, pipeline_root, config.cluster.runtime_image) as containers,
          quiet_run(log, verbose) as task_lines):
        versions_before = set(list_versions(store))
        try:
            output, failed = pipeline(store_url=store_url, config_json=config.to_json()).output, False
        except RuntimeError:  # a task failed; kfp.local has logged its error (in the log file)
            output, failed = None, True
    summary = {"command": "run", "pipeline": name, "store": store.url, "runner": runner,
               "pipeline_root": str(pipeline_root), "log": str(log), "failed": failed,
               "task_lines": [vars(t) for t in task_lines]}
    if containers is not None:
        summary["tasks"] = [{k: v for k, v in vars(t).items() if k != "log_tail"} for t in containers.tasks]
        summary["failed_tasks"] = [vars(t) for t in containers.tasks if t.exit_code]
    if failed:  # the operation that failed, from the task's traceback, before anything read afterwards
        summary["error"] = task_error(log)
    try:
        if name == "drift-monitor":
            summary.update(drift_monitor_summary(store, output, failed, versions_before))
        else:
            summary.update(training_summary(store, output))
    except StoreError as exc:
        if not failed:
            raise
        # The store that failed the run may still be away: the run's own error is what counts.
        summary["summary_unavailable"] = str(exc)
    summary["text"] = summary_text(summary)
    return summary


@contextmanager
def _tasks_run_in(runner: str, store: Store, pipeline, pipeline_root: Path, runtime_image: str):
    import kfp.local

    if runner == "subprocess":
        kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
                       raise_on_error=True)
        yield None
        return
    from pipelines.containers import pipeline_images, task_containers

    with task_containers(store, pipeline_images(pipeline), pipeline_root, runtime_image) as containers:
        kfp.local.init(runner=kfp.local.DockerRunner(), pipeline_root=str(pipeline_root), raise_on_error=True)
        yield containers
