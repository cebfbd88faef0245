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

from components import layout
from components.config import ConfigError, load_config
from components.store import STORE_ENV, StoreError, open_store
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
    _add_labels(sub, common)
    _add_report(sub, common)
    _add_compile(sub, common)
    _add_datasets(sub, common)
    _add_schema(sub, common)
    _add_models(sub, common)
    _add_device(sub, common)
    _add_kfp(sub, common)
    _add_config(sub, common)
    return parser


def _store(args):
    """The store the command names, with the configuration's patience for outages (store.*)."""
    return open_store(args.store, load_config(args.config).store)


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
    store = _store(args)
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

    store = _store(args)
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


def _add_labels(sub, common: argparse.ArgumentParser) -> None:
    """The `labels` subcommand: its options, and `_labels` to handle it."""
    p = sub.add_parser("labels", parents=[common], help="labels from Label Studio: import an export; the demo oracle")
    p.add_argument("action", choices=["import", "queues", "oracle"])
    p.add_argument("file", nargs="?", help="import: a Label Studio JSON export; oracle: a queue's tasks.json key")
    p.add_argument("--base", help="import: the dataset version whose windows are labelled (default: latest)")
    p.add_argument("--out", help="oracle: where to write the answered export (default: stdout)")
    p.set_defaults(handler=_labels)


def _labels(args) -> dict:
    from components import labels
    from components.simulator import oracle_answer

    config = load_config(args.config)
    store = open_store(args.store, config.store)
    if args.action == "queues":
        keys = [k for k in store.list(layout.QUEUES) if k.endswith("/tasks.json")]
        return {"command": "labels queues", "queues": keys, "text": "\n".join(keys) or "no relabel queues yet"}
    if not args.file:
        raise ValueError(f"labels {args.action} needs FILE")
    if args.action == "oracle":  # SYNTHETIC: the simulator's ground truth, for the demo and tests only
        answered = oracle_answer(store, json.loads(store.get_bytes(args.file)))
        text = json.dumps(answered, indent=1)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            return {"command": "labels oracle", "out": args.out, "tasks": len(answered), "synthetic": True}
        return {"command": "labels oracle", "tasks": len(answered), "synthetic": True, "answers": answered,
                "text": text}
    result = labels.import_labels(store, args.file, Path(args.file).read_bytes(), config, base_version=args.base)
    summary = {"command": "labels import", "version": result.version, "parent": result.parent,
               "written": result.written, "export_format": result.export_format, "note": result.note,
               "counts": result.counts, "already_imported": result.already_imported}
    if result.written:  # else the version is an earlier import's, and so is its quarantine file
        summary["quarantine"] = layout.dataset_file(result.version, "quarantine.csv")
    else:
        summary["quarantined"] = [q.reason for q in result.quarantined]
    return summary


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


def _add_datasets(sub, common: argparse.ArgumentParser) -> None:
    """The `datasets` subcommand: its options, and `_datasets` to handle it."""
    p = sub.add_parser("datasets", parents=[common], help="list dataset versions or show one")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("version", nargs="?")
    p.set_defaults(handler=_datasets)


def _datasets(args) -> dict:
    from components.datasets import list_versions, read_manifest

    store = _store(args)
    if args.action == "list":
        rows = [{"version": v, **read_manifest(store, v)["counts"]} for v in list_versions(store)]
        return {"command": "datasets list", "store": store.url, "versions": rows}
    if not args.version:
        raise ValueError("datasets show needs a VERSION (see `tinymlops datasets list`)")
    return {"command": "datasets show", **read_manifest(store, args.version)}


def _add_schema(sub, common: argparse.ArgumentParser) -> None:
    """The `schema` subcommand: its options, and `_schema` to handle it."""
    p = sub.add_parser("schema", parents=[common], help="show the current schema or push an edited one")
    p.add_argument("action", choices=["show", "push"])
    p.add_argument("file", nargs="?", help="schema.pbtxt to push")
    p.add_argument("--note", default="edited by hand")
    p.set_defaults(handler=_schema)


def _schema(args) -> dict:
    from components.validate_schema.step import push_schema, schema_versions

    store = _store(args)
    if args.action == "push":
        if not args.file:
            raise ValueError("schema push needs FILE, an edited schema.pbtxt")
        version = push_schema(store, Path(args.file).read_text(encoding="utf-8"), args.note, args.file)
        return {"command": "schema push", "version": version}
    versions = schema_versions(store)
    if not versions:
        return {"command": "schema show", "version": None, "note": "no schema yet: the first validation infers it"}
    text = store.get_bytes(layout.schema_file(versions[-1])).decode()
    return {"command": "schema show", "version": versions[-1], "schema_pbtxt": text}


def _add_models(sub, common: argparse.ArgumentParser) -> None:
    """The `models` subcommand: its options, and `_models` to handle it."""
    p = sub.add_parser("models", parents=[common], help="the model registry: list, show, promote, rollback")
    p.add_argument("action", choices=["list", "show", "promote", "rollback"])
    p.add_argument("version", nargs="?")
    p.add_argument("--force", action="store_true", help="promote a version the evaluator did not bless")
    p.add_argument("--by", default="", help="who promotes (default: the current user)")
    p.add_argument("--reason", default="", help="why (required with --force)")
    p.set_defaults(handler=_models)


def _models(args) -> dict:
    from components import registry

    store = _store(args)
    if args.action == "list":
        live = registry.production(store)
        rows = []
        for version in registry.list_models(store):
            record = registry.read_model(store, version)
            rows.append({"version": version, "production": version == live, "blessed": record["blessed"],
                         "int8_accuracy": record["int8_accuracy"], "dataset_version": record["dataset_version"]})
        text = "\n".join(f"{'*' if r['production'] else ' '} {r['version']}  int8 {r['int8_accuracy']:.2%}  "
                         f"{'blessed' if r['blessed'] else 'NOT blessed'}  dataset {r['dataset_version']}"
                         for r in rows) or "no models yet"
        incomplete = registry.incomplete_versions(store)
        if incomplete:
            text += (f"\nignored, incomplete (a run stopped while writing them; no registered.json): "
                     f"{', '.join(incomplete)}")
        return {"command": "models list", "production": live, "models": rows, "incomplete": incomplete,
                "text": text}
    if args.action == "rollback":
        return {"command": "models rollback", **registry.rollback(store, by=args.by, reason=args.reason).__dict__}
    if not args.version:
        raise ValueError(f"models {args.action} needs a VERSION (see `tinymlops models list`)")
    if args.action == "show":
        return {"command": "models show", "production": registry.production(store) == args.version,
                **registry.read_model(store, args.version)}
    promotion = registry.promote(store, args.version, force=args.force, by=args.by, reason=args.reason)
    return {"command": "models promote", **promotion.__dict__}


def _add_device(sub, common: argparse.ArgumentParser) -> None:
    """The `device` subcommand: its options, and `_device` to handle it."""
    p = sub.add_parser("device", parents=[common], help="a board on a serial port: collect windows, verify the model")
    p.add_argument("action", choices=["collect", "verify"])
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0 (or a pyserial URL)")
    p.add_argument("--label", help="collect: the class of the windows you are about to perform")
    p.add_argument("--count", type=int, default=10, help="collect: how many windows")
    p.add_argument("--device-id", help="collect: override the id the board reports")
    p.add_argument("--model", help="verify: model version (default: production)")
    p.add_argument("--windows", type=int, default=50, help="verify: how many holdout windows to send")
    p.set_defaults(handler=_device)


def _device(args) -> dict:
    from components import device, registry

    config = load_config(args.config)
    store = open_store(args.store, config.store)
    link = None
    try:
        link = device.SerialLink.open(args.port)
        if args.action == "collect":
            if not args.label:
                raise ValueError("device collect needs --label (one of the configured classes)")
            result = device.collect(link, args.label, args.count, config, store, args.device_id)
            return {"command": "device collect", "key": result.key, "collected": result.collected,
                    "skipped": len(result.skipped), "skipped_windows": [s.__dict__ for s in result.skipped],
                    "text": result.summary()}
        version = args.model or registry.production(store)
        if not version:
            raise ValueError("device verify needs --model VERSION: nothing is in production")
        from components.holdouts import load_holdouts

        record = registry.read_model(store, version)
        windows = load_holdouts(store, record["dataset_version"], config)["holdout"].x[:args.windows]
        tflite = registry.read_model_file(store, version, "model.tflite")
        # The host's 64-bit runtime needs more arena than the board's figure (arena_bytes, 32-bit).
        result = device.verify(link, windows, tflite, config, record.get("host_arena_bytes") or record["arena_bytes"])
        return {"command": "device verify", "model": version, "agree": result.agree, "windows": result.windows,
                "identical": result.identical, "max_abs_diff": result.max_abs_diff, "text": result.summary(),
                "failed": not result.agree}
    except device.CollectError as exc:
        raise RuntimeError(f"{exc}; {exc.result.summary()}") from exc
    except device.VerifyError as exc:
        # A verification that failed before its first window (wrong model or contract, no READY, the host cannot
        # run the model) has no comparison to add: its message is the whole story.
        so_far = "" if exc.result is None else f"; {exc.result.summary()}"
        raise RuntimeError(f"{exc}{so_far}") from exc
    except device.LinkError as exc:
        raise RuntimeError(str(exc)) from exc
    finally:
        if link is not None:
            link.close()


def _add_kfp(sub, common: argparse.ArgumentParser) -> None:
    """The `kfp` subcommand: its options, and `_kfp` to handle it."""
    p = sub.add_parser("kfp", parents=[common], help="a KFP 2.5 cluster: upload, run, schedule, list runs")
    p.add_argument("action", choices=["upload", "run", "schedule", "runs"])
    p.add_argument("pipeline", nargs="?", help="drift-monitor or continuous-training")
    p.add_argument("--host", help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT)")
    p.add_argument("--experiment", default="tinymlops")
    p.add_argument("--version", help="pipeline version name (upload: new version's name; run: which one)")
    p.add_argument("--run-name", help="run or recurring-run name")
    p.add_argument("--cron", help="schedule: 6 fields, seconds first, e.g. '0 0 3 * * *'")
    p.add_argument("--store-url", help="the cluster's store for this run (default: the pipeline's default)")
    p.set_defaults(handler=_kfp)


def _kfp(args) -> dict:
    from pipelines import kfp_api

    host = args.host or os.environ.get(kfp_api.ENDPOINT_ENV)
    if not host:
        raise ValueError(f"no KFP host: pass --host or set {kfp_api.ENDPOINT_ENV}")
    if args.action != "runs" and args.pipeline not in ("drift-monitor", "continuous-training"):
        raise ValueError(f"kfp {args.action} needs a PIPELINE: drift-monitor or continuous-training")
    if args.action == "schedule":
        kfp_api.validate_cron(args.cron or "")  # before any request
    # Only what the user chose overrides the compiled defaults, so a rerun needs no typing.
    params = {"store_url": args.store_url} if args.store_url else {}
    if args.config:
        params["config_json"] = load_config(args.config).to_json()
    connection = kfp_api.connect(host)
    if args.action == "upload":
        package = COMPILED_DIR / f"{args.pipeline.replace('-', '_')}.yaml"
        return {"command": "kfp upload", **kfp_api.upload(connection, args.pipeline, package, args.version)}
    if args.action == "run":
        return {"command": "kfp run", **kfp_api.run(connection, args.pipeline, args.experiment, params,
                                                    args.run_name, version=args.version)}
    if args.action == "schedule":
        return {"command": "kfp schedule", **kfp_api.schedule(
            connection, args.pipeline, args.experiment, args.cron, params,
            args.run_name or f"{args.pipeline}-scheduled", version=args.version)}
    runs = kfp_api.list_runs(connection, args.experiment)
    return {"command": "kfp runs", "runs": runs, "text": _runs_table(runs)}


def _runs_table(runs: list[dict]) -> str:
    if not runs:
        return "no runs"
    columns = ("state", "created_at", "finished_at", "name", "run_id")
    rows = [[str(run.get(c) or "-")[:19] if c.endswith("_at") else str(run.get(c) or "-") for c in columns]
            for run in runs]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    errors = [f"{run['run_id']}: {run['error']}" for run in runs if run.get("error")]
    return "\n".join(lines + (["errors:", *errors] if errors else []))


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
