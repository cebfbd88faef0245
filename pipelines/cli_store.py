"""The `tinymlops` commands over what the store holds: `datasets`, `schema`, `models` (the registry) and
`labels` (Label Studio exports in, the relabel queues, the demo's oracle). `pipelines/cli.py` adds them to the
command line with the options every command takes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from components import layout
from components.config import load_config
from components.store import open_store


def store_from(args):
    """The store the command names, with the configuration's patience for outages (store.*)."""
    return open_store(args.store, load_config(args.config).store)


def add_labels(sub, common: argparse.ArgumentParser) -> None:
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


def add_datasets(sub, common: argparse.ArgumentParser) -> None:
    """The `datasets` subcommand: its options, and `_datasets` to handle it."""
    p = sub.add_parser("datasets", parents=[common], help="list dataset versions or show one")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("version", nargs="?")
    p.set_defaults(handler=_datasets)


def _datasets(args) -> dict:
    from components.datasets import list_versions, read_manifest

    store = store_from(args)
    if args.action == "list":
        rows = [{"version": v, **read_manifest(store, v)["counts"]} for v in list_versions(store)]
        return {"command": "datasets list", "store": store.url, "versions": rows}
    if not args.version:
        raise ValueError("datasets show needs a VERSION (see `tinymlops datasets list`)")
    return {"command": "datasets show", **read_manifest(store, args.version)}


def add_schema(sub, common: argparse.ArgumentParser) -> None:
    """The `schema` subcommand: its options, and `_schema` to handle it."""
    p = sub.add_parser("schema", parents=[common], help="show the current schema or push an edited one")
    p.add_argument("action", choices=["show", "push"])
    p.add_argument("file", nargs="?", help="schema.pbtxt to push")
    p.add_argument("--note", default="edited by hand")
    p.set_defaults(handler=_schema)


def _schema(args) -> dict:
    from components.validate_schema.step import push_schema, schema_versions

    store = store_from(args)
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


def add_models(sub, common: argparse.ArgumentParser) -> None:
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

    store = store_from(args)
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
