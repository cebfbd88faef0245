"""The `tinymlops` commands that reach outside this machine's store: `device` (a board on a serial port:
collect windows, verify the model) and `kfp` (a Kubeflow Pipelines cluster: upload, run, schedule, list runs).
`pipelines/cli.py` adds them to the command line with the options every command takes."""

from __future__ import annotations

import argparse
import os

from components.config import load_config
from components.store import open_store
from pipelines.local import COMPILED_DIR


def add_device(sub, common: argparse.ArgumentParser) -> None:
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


def add_kfp(sub, common: argparse.ArgumentParser) -> None:
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
