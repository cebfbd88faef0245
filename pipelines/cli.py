"""The `tinymlops` command: simulate devices, run and compile pipelines, inspect the store.

Every command takes --store (else $TINYMLOPS_STORE, else .tinymlops/store),
--config PATH (YAML/JSON over the built-in defaults) and --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from components.config import ConfigError, load_config
from components.store import STORE_ENV, StoreError, open_store
from pipelines import cli_remote, cli_store
from pipelines.local import COMPILED_DIR, RUNNERS
from pipelines.supervise import supervised

DEFAULT_PIPELINE_ROOT = ".tinymlops/pipeline-root"
RUNNER_OPTION = {"choices": RUNNERS, "default": "subprocess",
                 "help": "subprocess: each task in this virtualenv (default); container: each task in its "
                         "component's image, through Docker or podman (`make images` builds them)"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # TensorFlow's C++ logs below FATAL (CUDA factory registration, ...) and library deprecation
    # warnings say nothing a user can act on; tasks inherit the environment.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2 (tf_keras)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        with _stdout_to_stderr(args.json):
            # Local pipeline runs start task subprocesses: supervised, none outlives the command (supervise.py).
            summary = supervised(lambda: args.handler(args)) if args.command in ("run", "monitor") \
                else args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a local run's tasks are ended and its claim says so
        print(f"tinymlops {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, StoreError, ValueError, RuntimeError, KeyError) as exc:
        print(f"tinymlops {args.command}: error: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"command": args.command, "failed": True, "error": str(exc)}, indent=2))
        return 1
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True) if args.json else _human(summary))
    return 1 if isinstance(summary, dict) and summary.get("failed") else 0


@contextmanager
def _stdout_to_stderr(active: bool):
    """With --json, whatever a command or its subprocesses print goes to stderr, so that stdout carries
    only the one JSON document printed afterwards (descriptor 1 itself, not just sys.stdout)."""
    if not active:
        yield
        return
    from pipelines.console import descriptors_to

    old = sys.stdout
    with descriptors_to(2, 1):
        sys.stdout = sys.stderr
        try:
            yield
        finally:
            sys.stdout = old


def _parser() -> argparse.ArgumentParser:
    """The command line: the options every command takes (`common`), then each subcommand (its `_add_*`,
    above its handler), in the order `--help` lists them."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help=f"local folder or minio://host:port/bucket[/prefix] "
                        f"(default: ${STORE_ENV}, else .tinymlops/store)")
    common.add_argument("--config", help="YAML/JSON configuration file (default: built-in gesture model)")
    common.add_argument("--json", action="store_true",
                        help="stdout is exactly one JSON document (everything else goes to stderr)")
    common.add_argument("--verbose", action="store_true",
                        help="stream kfp.local's full task logs (else they go to a file under the pipeline root)")
    parser = argparse.ArgumentParser(prog="tinymlops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    _add_simulate(sub, common)
    _add_run(sub, common)
    _add_monitor(sub, common)
    cli_store.add_labels(sub, common)
    _add_report(sub, common)
    _add_compile(sub, common)
    cli_store.add_datasets(sub, common)
    cli_store.add_schema(sub, common)
    cli_store.add_models(sub, common)
    cli_remote.add_device(sub, common)
    cli_remote.add_kfp(sub, common)
    _add_config(sub, common)
    return parser


def _add_simulate(sub, common: argparse.ArgumentParser) -> None:
    """The `simulate` subcommand: its options, and `_simulate` to handle it."""
    p = sub.add_parser("simulate", parents=[common], help="write simulated device uploads (synthetic)")
    p.add_argument("--scenario", default="baseline", choices=["baseline", "data-drift", "concept-drift"])
    p.add_argument("--devices", type=int, default=12)
    p.add_argument("--windows-per-device", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    from components.simulator_kinds import KINDS  # here: the one list of kinds, and only this command's parser

    p.add_argument("--kind", choices=KINDS, help="data-drift only: the baseline's own devices with this one change "
                   "(see components/simulator_kinds.py) instead of new revision-B devices")
    p.add_argument("--kind-devices", metavar="N|all",
                   help="with --kind: change the first N device ids in sorted order (default: all)")
    p.add_argument("--kind-size", type=float, help="with --kind: how much (default: the kind's own)")
    p.add_argument("--kind-target", help="with --kind: what changes, comma-separated: a sensor (accel, gyro), "
                   "channels (stuck: one, swap: two) or a class (prior) (default: the kind's own)")
    p.set_defaults(handler=_simulate)


def _simulate(args) -> dict:
    from components.simulator import simulate, simulation_name, stale_truth, write_simulation
    from components.simulator_kinds import drifted_devices

    config = load_config(args.config)
    store = cli_store.store_from(args)
    if args.kind_devices in (None, "all"):
        kind_devices = None
    elif args.kind_devices.isdigit():
        kind_devices = int(args.kind_devices)
    else:
        raise ValueError(f"--kind-devices takes a number of devices or 'all', not {args.kind_devices!r}")
    kind = {"kind": args.kind, "kind_devices": kind_devices, "kind_size": args.kind_size,
            "kind_target": args.kind_target}
    uploads, truth = simulate(args.scenario, config.data, devices=args.devices,
                              windows_per_device=args.windows_per_device, seed=args.seed, **kind)
    # A concept drift also makes the labels of old windows stale: the oracle learns their new truth.
    stale = stale_truth(store, args.scenario, args.devices, args.seed)
    name = simulation_name(args.scenario, config.data, devices=args.devices, seed=args.seed, **kind)
    written = write_simulation(store, uploads, truth + stale, name)
    summary = {"command": "simulate", "scenario": args.scenario, "store": store.url, "synthetic": True,
               "uploads": len(uploads), "uploads_written": written, "windows": len(truth),
               "old_windows_now_stale": len(stale)}
    what = args.scenario
    if args.kind:
        summary |= {"kind": args.kind, "name": name, "drifted_devices": drifted_devices(args.devices, kind_devices)}
        what += f" ({args.kind} on {len(summary['drifted_devices'])} of {args.devices} devices)"
    summary["text"] = (f"simulated (SYNTHETIC) {what}: {len(truth)} windows from {args.devices} devices, "
                       f"{written} of {len(uploads)} uploads written to {store.url}/incoming/"
                       + (f"; {len(stale)} old labels now stale" if stale else ""))
    return summary


def _add_run(sub, common: argparse.ArgumentParser) -> None:
    """The `run` subcommand: its options, and `_run` to handle it."""
    p = sub.add_parser("run", parents=[common], help="run a pipeline locally under kfp.local")
    p.add_argument("pipeline", help="drift-monitor or continuous-training")
    p.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT, help="where KFP writes artifacts")
    p.add_argument("--runner", **RUNNER_OPTION)
    p.set_defaults(handler=_run)


def _run(args) -> dict:
    from pipelines.local import run_pipeline

    store = cli_store.store_from(args)
    return run_pipeline(args.pipeline, store, load_config(args.config), Path(args.pipeline_root), args.runner,
                        args.verbose)


def _add_monitor(sub, common: argparse.ArgumentParser) -> None:
    """The `monitor` subcommand: its options, and `_monitor` to handle it."""
    p = sub.add_parser("monitor", parents=[common],
                       help="run the drift monitor; on an alert start one continuous-training run")
    p.add_argument("--submit", action="store_true",
                   help="start the training run on a cluster through the KFP API (default: locally)")
    p.add_argument("--host", help="with --submit: KFP API endpoint (default: $KF_PIPELINES_ENDPOINT)")
    p.add_argument("--experiment", default="tinymlops", help="with --submit: the run's experiment")
    p.add_argument("--store-url", help="with --submit: the cluster's store for the run (default: the pipeline's)")
    p.add_argument("--pipeline-root", default=DEFAULT_PIPELINE_ROOT, help="where KFP writes artifacts")
    p.add_argument("--runner", **RUNNER_OPTION)
    p.set_defaults(handler=_monitor)


def _monitor(args) -> dict:
    from pipelines.monitor import monitor, monitor_text

    config = load_config(args.config)
    store = open_store(args.store, config.store)
    submit = kfp_state = None
    if args.submit:
        from pipelines import kfp_api

        host = args.host or os.environ.get(kfp_api.ENDPOINT_ENV)
        if not host:
            raise ValueError(f"monitor --submit needs a KFP host: pass --host or set {kfp_api.ENDPOINT_ENV}")
        connection = kfp_api.connect(host)  # fail before monitoring if the cluster is unreachable
        params = {"config_json": config.to_json(), **({"store_url": args.store_url} if args.store_url else {})}

        def submit() -> dict:
            return kfp_api.run(connection, "continuous-training", args.experiment, params)

        def kfp_state(run_id: str) -> str:
            return kfp_api.run_state(connection, run_id)
    summary = monitor(store, config, Path(args.pipeline_root), submit=submit, kfp_state=kfp_state,
                      runner=args.runner, verbose=args.verbose)
    return {**summary, "text": monitor_text(summary)}


def _add_report(sub, common: argparse.ArgumentParser) -> None:
    """The `report` subcommand: its options, and `_report` to handle it."""
    p = sub.add_parser("report", parents=[common],
                       help="before/after the last promotion: accuracy on the newest and baseline holdouts")
    p.set_defaults(handler=_report)


def _report(args) -> dict:
    from pipelines.report import report, report_text

    config = load_config(args.config)
    result = report(open_store(args.store, config.store), config)  # also writes the page and chart
    return {**result, "text": report_text(result)}


def _add_compile(sub, common: argparse.ArgumentParser) -> None:
    """The `compile` subcommand: its options, and `_compile` to handle it."""
    p = sub.add_parser("compile", parents=[common], help="compile every pipeline to YAML")
    p.add_argument("--out", default=str(COMPILED_DIR))
    p.set_defaults(handler=_compile)


def _compile(args) -> dict:
    from pipelines.local import compile_all

    config = load_config(args.config) if args.config else None  # None: the cluster's default
    return {"command": "compile", "written": [str(p) for p in compile_all(Path(args.out), config)]}


def _add_config(sub, common: argparse.ArgumentParser) -> None:
    """The `config` subcommand: its options, and `_config` to handle it."""
    p = sub.add_parser("config", parents=[common], help="print the effective configuration as YAML")
    p.set_defaults(handler=_config)


def _config(args) -> dict | None:
    import yaml

    config = load_config(args.config).to_dict()
    if args.json:
        return config
    print(yaml.safe_dump(config, sort_keys=False))
    return None


def _human(summary: dict) -> str:
    if "text" in summary:
        return summary["text"]
    if "schema_pbtxt" in summary:
        return f"# schema version {summary['version']}\n{summary['schema_pbtxt']}"
    return "\n".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
                     for k, v in summary.items())


if __name__ == "__main__":
    sys.exit(main())
