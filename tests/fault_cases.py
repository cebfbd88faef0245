"""A store that fails mid-step: each fault of tests/fault_proxy.py during ingest, train and promote.

One case: a fresh bucket on moto's S3 server, seeded directly; the step's store side runs through the
fault proxy with one fault armed; then, the fault cleared, what the store holds is checked directly (no
proxy), the step is rerun, and checked again. The checks are what a person relies on after an outage:

  * the step completed, or failed with one message naming the endpoint and the retry budget spent;
  * no partial object and no version that reads back different from what was written: every dataset
    version with a manifest reads whole, every registered model's files equal the bytes promote was given,
    a half-written model version is never listed;
  * the ledger adds up: each upload in exactly one dataset version; the production pointer is the newest
    numbered promotion, production.json its copy, each promotion naming the one before;
  * the rerun completes.

tests/faults/test_faults.py asserts these for every fault x step; `python -m tests.fault_cases` writes the table
(bench_faults.json and bench_faults.md).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from components import layout, registry
from components.config import Config, StoreConfig
from components.datasets import list_versions, read_lineage, read_manifest, read_windows
from components.ingest.step import run_ingest
from components.promote.step import register_and_promote
from components.simulator import simulate
from components.store import MinioStore, StoreError
from tests.fault_proxy import FaultProxy

# Short, so that the table runs in minutes: the same policy as the defaults (store.* in the configuration),
# scaled down. A refusal shorter than the budget is ridden out; a longer one fails the step clearly.
PATIENCE = StoreConfig(retry_budget_s=6, first_delay_s=0.2, max_delay_s=1.0, connect_timeout_s=1,
                       read_timeout_s=2, request_deadline_s=4)


# A refusal strikes mid-step, once the step has made this many requests (moto answers each on its own
# connection): train's reads are three; promote's fourth request is its first PUT after model.tflite's.
MID_STEP = {"ingest": 3, "train": 2, "promote": 4}


def _mid_step(arm: Callable[[FaultProxy], None]) -> Callable[[FaultProxy, str], None]:
    def start(proxy: FaultProxy, step: str) -> None:
        def wait_then_arm() -> None:
            deadline = time.monotonic() + 30
            while proxy.stats().connections < MID_STEP[step] and time.monotonic() < deadline:
                time.sleep(0.001)
            arm(proxy)
        threading.Thread(target=wait_then_arm, daemon=True).start()
    return start


def _at_once(arm: Callable[[FaultProxy], None]) -> Callable[[FaultProxy, str], None]:
    return lambda proxy, step: arm(proxy)


FAULTS: dict[str, Callable[[FaultProxy, str], None]] = {
    "refused 3 s, mid-step": _mid_step(lambda p: p.refuse(3)),
    "refused 10 s, mid-step (past the budget)": _mid_step(lambda p: p.refuse(10)),
    "reset mid-upload": _at_once(lambda p: p.reset_upload(1000, times=2)),
    "reset mid-download": _at_once(lambda p: p.reset_download(600, times=2, method="GET")),
    "lost answer to a PUT": _at_once(lambda p: p.drop_response(times=2, method="PUT")),
    "answer delayed past the read timeout": _at_once(lambda p: p.delay(3, times=2)),
    "answer trickled past the deadline": _at_once(lambda p: p.trickle(64, 1.0, times=1)),
}
STEPS = ("ingest", "train", "promote")
# train's store side only reads (the lineage it trains on): faults of uploads cannot reach it.
ONLY_WRITES = {"reset mid-upload", "lost answer to a PUT"}
CASES = [(step, fault) for step in STEPS for fault in FAULTS if not (step == "train" and fault in ONLY_WRITES)]


@dataclass
class Case:
    step: str
    fault: str
    outcome: str  # "completed" or "failed"
    message: str  # the error a person sees, when failed
    seconds: float
    fired: int  # how often the fault acted
    problems: list[str]  # what the checks found wrong (empty: none)
    rerun: str  # "completed" or the rerun's error


def run_case(s3_endpoint: str, credentials: tuple[str, str], step: str, fault: str, bucket: str) -> Case:
    direct = _store(s3_endpoint, credentials, bucket)
    config = Config()
    given = _seed(direct, step, config)
    with FaultProxy(s3_endpoint, max_hold_s=15) as proxy:
        flaky = _store(proxy.endpoint, credentials, bucket)
        FAULTS[fault](proxy, step)
        started = time.monotonic()
        try:
            _STEP[step](flaky, config, given)
            outcome, message = "completed", ""
        except StoreError as exc:
            outcome, message = "failed", str(exc)
        seconds = time.monotonic() - started
        fired = sum(proxy.stats().fired.values())
        proxy.clear()
        problems = _check(direct, step, given, config)
        try:
            _STEP[step](flaky, config, given)
            rerun = "completed"
        except StoreError as exc:
            rerun = f"failed: {exc}"
    problems += [f"after the rerun: {p}" for p in _check(direct, step, given, config, rerun=True)]
    return Case(step, fault, outcome, message, round(seconds, 1), fired, problems, rerun)


def _store(endpoint: str, credentials: tuple[str, str], bucket: str) -> MinioStore:
    return MinioStore(endpoint, bucket, "fleet", access_key=credentials[0], secret_key=credentials[1],
                      patience=PATIENCE)


def _seed(store: MinioStore, step: str, config: Config) -> dict:
    uploads, _ = simulate("baseline", config.data, devices=3, windows_per_device=8, seed=1)
    for upload in uploads:
        store.put_bytes(upload.key, upload.data)
    given: dict = {"uploads": sorted(u.key for u in uploads)}
    if step != "ingest":
        given["dataset_version"] = run_ingest(store, config).version
        given["windows"] = read_lineage(store, given["dataset_version"])
    if step == "promote":
        rng = np.random.default_rng(0)
        given["files"] = {"model.tflite": rng.bytes(20_000), "model.h5": rng.bytes(40_000),
                          "ops.json": b'{"ops": ["FULLY_CONNECTED"]}', "c/model_data.cc": rng.bytes(30_000),
                          "model_card.md": b"# Model card: challenger\n"}
        given["production_before"] = registry.production(store)
    return given


def _ingest(store, config, given) -> None:
    run_ingest(store, config)


def _train(store, config, given) -> None:  # train's store side: the lineage it trains on
    windows = read_lineage(store, given["dataset_version"])
    if not np.array_equal(windows.x, given["windows"].x):
        raise AssertionError("train read windows different from those written")


def _promote(store, config, given) -> None:
    evaluation = {"blessing": {"blessed": True, "reasons": []},
                  "metrics": {"int8_accuracy": 0.95, "float_accuracy": 0.96, "tflite_bytes": 20_000,
                              "arena_bytes": 9_000}}
    training = {"dataset_version": given["dataset_version"], "seed": 0, "config_fingerprint": "fault-case"}
    register_and_promote(store, given["files"], evaluation, training, {"built": True, "missing": []})


_STEP = {"ingest": _ingest, "train": _train, "promote": _promote}


def _check(store: MinioStore, step: str, given: dict, config: Config, rerun: bool = False) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for version in list_versions(store):  # every version with a manifest is whole, each upload in one
        manifest = read_manifest(store, version)
        windows = read_windows(store, version)
        if len(windows.labels) != manifest["counts"]["windows_accepted"]:
            problems.append(f"dataset {version}: {len(windows.labels)} windows, manifest says "
                            f"{manifest['counts']['windows_accepted']}")
        for upload in manifest["uploads"]:
            if upload["key"] in seen:
                problems.append(f"{upload['key']} in {seen[upload['key']]} and {version}")
            seen[upload["key"]] = version
    if rerun and sorted(seen) != given["uploads"]:
        problems.append(f"{len(seen)} of {len(given['uploads'])} uploads in a dataset version")
    for version in registry.list_models(store):
        record = registry.read_model(store, version)
        for name, data in given.get("files", {}).items():
            if name != "model_card.md" and store.get_bytes(f"models/{version}/{name}") != data:
                problems.append(f"models/{version}/{name} reads back different")
        if sorted(record["files"]) != sorted(k[len(f"models/{version}/"):] for k in store.list(f"models/{version}/")
                                             if not k.endswith("registered.json")):
            problems.append(f"models/{version}: files differ from its record")
    log = registry.promotions(store)
    if [p["previous"] for p in log[1:]] != [p["version"] for p in log[:-1]]:
        problems.append("the promotions do not form one chain")
    if log and (registry.production(store) != log[-1]["version"]
                or json.loads(store.get_bytes(layout.PRODUCTION_POINTER)) != log[-1]):
        problems.append("production.json is not the newest promotion")
    if rerun and step == "promote" and registry.production(store) != registry.list_models(store)[-1]:
        problems.append("the rerun's model is not in production")
    return problems


def table(cases: list[Case]) -> str:
    lines = ["| step | fault | outcome | s | fired | checks | rerun |", "|---|---|---|---|---|---|---|"]
    for c in cases:
        said = re.search(r"to (.+?): gave up after (\d+) attempt\(s\) in (\d+) s \(retry budget", c.message)
        outcome = c.outcome if c.outcome == "completed" else (
            f"failed after {said.group(2)} attempts in {said.group(3)} s, the message naming the endpoint, the "
            f"budget and `{said.group(1)}`" if said else f"failed: {c.message[:160]}")
        lines.append(f"| {c.step} | {c.fault} | {outcome} | {c.seconds} | {c.fired} | "
                     f"{'; '.join(c.problems) or 'all hold'} | {c.rerun} |")
    return "\n".join(lines)


def main() -> int:
    from moto.server import ThreadedMotoServer

    from tests.conftest import S3_SECRET, S3_USER, free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        cases = [run_case(f"127.0.0.1:{port}", (S3_USER, S3_SECRET), step, fault, f"faults-{i}")
                 for i, (step, fault) in enumerate(CASES)]
    finally:
        server.stop()
    with open("bench_faults.json", "w") as f:
        json.dump({"patience": PATIENCE.__dict__, "cases": [c.__dict__ for c in cases]}, f, indent=2)
    text = table(cases)
    with open("bench_faults.md", "w") as f:
        f.write(text + "\n")
    print(text)
    return 1 if any(c.problems or c.rerun != "completed" for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
