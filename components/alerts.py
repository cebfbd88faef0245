"""Drift alerts in the store: one continuous-training run per alert, and a claim that knows its run.

    alerts/<data key>/<n>/claim.json      who claimed the n-th trigger for this data (host, process), when, why
    alerts/<data key>/<n>/run.json        the run the claimant started: local, or on KFP with its run id
    alerts/<data key>/<n>/heartbeat.json  refreshed by the claimant while its local run runs
    alerts/<data key>/<n>/outcome.json    how the run ended, written once: succeeded, failed, interrupted,
                                          start_failed, or dead (found dead by a later monitor)

The data key names the data an alert is about (the dataset lineage's head and the model in production),
so the same data seen twice gives the same key. A monitor may start a run only by creating the next
claim.json, with the store's atomic create-if-absent (os.link locally, If-None-Match on MinIO): when
monitors race on one alert, exactly one create succeeds and only that monitor starts a run.

Before the cooldown applies, the last claim's run is judged (`judge`): a run that succeeded holds the
cooldown; one still alive (its process on this host, a fresh heartbeat, or RUNNING on KFP) holds the
alert; one that failed, was cancelled, or went silent is marked dead and the alert may be claimed again at
once, then with backoff, up to `monitor.max_attempts` runs in a row (after that, until the cooldown since
the last failure has passed), so a run that always fails does not loop.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from components import layout
from components.config import MonitorConfig
from components.store import ObjectExists, ObjectMissing, Store, get_json, put_json

# KFP 2.x run states (v2beta1 RuntimeState): those that still go on, and those that ended well.
KFP_ALIVE = {"PENDING", "RUNNING", "PAUSED", "CANCELING", "RUNTIME_STATE_UNSPECIFIED"}
KFP_SUCCEEDED = {"SUCCEEDED"}


@dataclass(frozen=True)
class Previous:
    """What became of the last run claimed for this data."""

    state: str  # succeeded | running | dead | unknown
    detail: str  # for a person: the process, the heartbeat's age, the KFP state
    claim: str  # the claim.json it belongs to
    last_seen: str | None = None  # a dead run's last sign of life (its heartbeat): backoff counts from there


@dataclass
class Claim:
    claimed: bool
    key: str  # the claim.json created (claimed) or the one that stands in our way
    reason: str  # why not, when not claimed
    previous: Previous | None = None
    attempt: int = 1  # runs claimed in a row for this data, this one included


def _claims(store: Store, data_key: str) -> list[str]:
    return sorted(k for k in store.list(layout.alert_folder(data_key)) if k.endswith("/claim.json"))


def _read(store: Store, key: str) -> dict | None:
    try:
        return get_json(store, key)
    except ObjectMissing:
        return None


def this_process() -> dict:
    """Who we are, in a form another monitor can check: host, pid and the process's start (against pid reuse)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid())}


def _process_start(pid: int) -> str | None:
    try:  # field 22 of /proc/<pid>/stat: start time in clock ticks since boot; the name (2) may hold spaces
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive_here(owner: dict) -> bool:
    start = _process_start(owner["pid"])
    return start is not None and (owner.get("pid_start") in (None, start))


def judge(store: Store, claim_key: str, now: datetime, stale_after: timedelta,
          kfp_state: Callable[[str], str] | None = None) -> Previous:
    """The state of the run started under `claim_key`, from its outcome, its process, heartbeat or KFP."""
    outcome = _read(store, layout.beside(claim_key, "outcome.json"))
    if outcome:
        state = "succeeded" if outcome["state"] == "succeeded" else "dead"
        return Previous(state, f"{outcome['state']}: {outcome.get('detail', '')}".rstrip(": "), claim_key)
    claim, run = get_json(store, claim_key), _read(store, layout.beside(claim_key, "run.json")) or {}
    if run.get("where") == "kfp" and run.get("run_id"):
        if kfp_state is None:
            return Previous("unknown", f"KFP run {run['run_id']}: its state is unknown here (no KFP client)",
                            claim_key)
        state = kfp_state(run["run_id"])
        detail = f"KFP run {run['run_id']} is {state}"
        if state in KFP_ALIVE:
            return Previous("running", detail, claim_key)
        ended = "succeeded" if state in KFP_SUCCEEDED else "failed"
        return Previous("succeeded" if ended == "succeeded" else "dead",
                        record_outcome(store, claim_key, ended, detail, now)["detail"], claim_key)
    owner = claim.get("owner") or {}
    beat = _read(store, layout.beside(claim_key, "heartbeat.json")) or {"at": claim["claimed_at"]}
    silent = now - datetime.fromisoformat(beat["at"])
    who = f"process {owner.get('pid')} on {owner.get('host')}"
    if owner.get("host") == socket.gethostname() and owner.get("pid") and not _alive_here(owner):
        return Previous("dead", f"{who} is gone", claim_key, beat["at"])
    if silent > stale_after:
        return Previous("dead", f"{who}: no heartbeat for {silent.total_seconds():.0f} s "
                                f"(limit {stale_after.total_seconds():.0f} s)", claim_key, beat["at"])
    return Previous("running", f"{who}, heartbeat {max(silent.total_seconds(), 0):.0f} s ago", claim_key)


def claim_trigger(store: Store, data_key: str, decision: str, policy: MonitorConfig,
                  now: datetime | None = None, evidence_key: str = "",
                  kfp_state: Callable[[str], str] | None = None) -> Claim:
    """Claim the right to start one run for `data_key`, after judging the last run claimed for it."""
    now = now or datetime.now(UTC)
    claims = _claims(store, data_key)
    previous, attempt = None, 1
    if claims:
        previous = judge(store, claims[-1], now, timedelta(seconds=policy.stale_after_s), kfp_state)
        if previous.state == "running":
            return Claim(False, claims[-1], f"a run for the same data is still going: {previous.detail}", previous)
        last = get_json(store, claims[-1])
        age = now - datetime.fromisoformat(last["claimed_at"])
        cooldown = timedelta(hours=policy.cooldown_hours)
        if previous.state in ("succeeded", "unknown") and age < cooldown:
            return Claim(False, claims[-1], f"an alert for the same data started a run {age.total_seconds():.0f} s "
                                            f"ago ({previous.detail}; cooldown {cooldown.total_seconds():.0f} s)",
                         previous)
        if previous.state == "dead":
            last_seen = datetime.fromisoformat(previous.last_seen) if previous.last_seen else now
            ended = record_outcome(store, claims[-1], "dead", previous.detail, min(last_seen, now))
            failures = _failures_in_a_row(store, claims)
            since = now - datetime.fromisoformat(ended["at"])
            wait = timedelta(seconds=policy.retry_backoff_s * 2 ** (failures - 2)) if failures > 1 else timedelta()
            if failures >= policy.max_attempts and since < cooldown:
                return Claim(False, claims[-1], f"the last {failures} runs for the same data failed (last: "
                                                f"{previous.detail}); no retry before the cooldown "
                                                f"({cooldown.total_seconds():.0f} s; monitor.max_attempts = "
                                                f"{policy.max_attempts})", previous)
            if since < wait:
                return Claim(False, claims[-1], f"the last run for the same data failed ({previous.detail}); "
                                                f"retry {failures + 1} of {policy.max_attempts} waits "
                                                f"{(wait - since).total_seconds():.0f} s more (backoff)", previous)
            attempt = failures + 1 if failures < policy.max_attempts else 1
    key = layout.alert_claim(data_key, len(claims) + 1)
    # The claimant id makes every claim's bytes unique, so a retried write cannot pass for another's.
    owner = this_process()
    body = {"data_key": data_key, "decision": decision, "claimed_at": now.isoformat(), "evidence": evidence_key,
            "claimant": f"{owner['host']}:{owner['pid']}:{uuid.uuid4().hex[:8]}", "owner": owner,
            "attempt": attempt, "previous": previous.__dict__ if previous else None}
    try:
        put_json(store, key, body)
    except ObjectExists:
        return Claim(False, key, "another monitor claimed this alert first", previous)
    # Read back: an S3 server too old for If-None-Match overwrites instead of refusing; this catches most
    # such races, not all (see README, "The alert").
    if get_json(store, key).get("claimant") != body["claimant"]:
        return Claim(False, key, "another monitor claimed this alert first", previous)
    return Claim(True, key, "", previous, attempt)


def _failures_in_a_row(store: Store, claims: list[str]) -> int:
    failures = 0
    for key in reversed(claims):
        outcome = _read(store, layout.beside(key, "outcome.json"))
        if not outcome or outcome["state"] == "succeeded":
            break
        failures += 1
    return failures


def record_run(store: Store, claim_key: str, run: dict) -> None:
    """What the claimant started (written once, when it started)."""
    put_json(store, layout.beside(claim_key, "run.json"), run)


def record_outcome(store: Store, claim_key: str, state: str, detail: str = "", now: datetime | None = None) -> dict:
    """How the run ended; the first word stands (two monitors finding one run dead write it once)."""
    outcome = {"state": state, "detail": detail, "at": (now or datetime.now(UTC)).isoformat(),
               "by": this_process()}
    try:
        put_json(store, layout.beside(claim_key, "outcome.json"), outcome)
    except ObjectExists:
        return get_json(store, layout.beside(claim_key, "outcome.json"))
    return outcome


@contextmanager
def heartbeat(store: Store, claim_key: str, every_s: float) -> Iterator[None]:
    """Refresh heartbeat.json beside the claim while the block runs, so other monitors see the run alive."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                put_json(store, layout.beside(claim_key, "heartbeat.json"),
                         {"at": datetime.now(UTC).isoformat(), **this_process()}, overwrite=True)
            except Exception:  # noqa: BLE001 - a store outage must not end the run; a silent beat is judged later
                pass
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=beat, name="alert-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
