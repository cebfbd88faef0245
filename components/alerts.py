"""Drift alerts in the store: at most one continuous-training run per alert and cooldown.

    alerts/<data key>/<n>/claim.json   who claimed the n-th trigger for this data, when, and why
    alerts/<data key>/<n>/run.json     the run the claimant started (written after it started)

The data key names the data an alert is about (the dataset lineage's head and the model in production),
so the same data seen twice gives the same key. A monitor may start a run only by creating the next
claim.json, with the store's atomic create-if-absent (os.link locally, If-None-Match on MinIO): when two
monitors race on one alert, exactly one create succeeds and only that monitor starts a run.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from components.store import ObjectExists, Store, get_json, put_json

PREFIX = "alerts/"


@dataclass
class Claim:
    claimed: bool
    key: str  # the claim.json created (claimed) or the one that stands in our way
    reason: str  # why not, when not claimed
    previous: dict | None = None


def _claims(store: Store, data_key: str) -> list[str]:
    return sorted(k for k in store.list(f"{PREFIX}{data_key}/") if k.endswith("/claim.json"))


def claim_trigger(store: Store, data_key: str, decision: str, cooldown: timedelta,
                  now: datetime | None = None, evidence_key: str = "") -> Claim:
    """Claim the right to start one run for `data_key`, unless one was claimed within `cooldown`."""
    now = now or datetime.now(UTC)
    claims = _claims(store, data_key)
    run_key = claims[-1].replace("/claim.json", "/run.json") if claims else ""
    # A claim whose run could not be started (the KFP API away) does not hold back the next monitor.
    if claims and not (store.exists(run_key) and get_json(store, run_key).get("start_failed")):
        last = get_json(store, claims[-1])
        age = now - datetime.fromisoformat(last["claimed_at"])
        if age < cooldown:
            return Claim(False, claims[-1], f"an alert for the same data started a run {age.total_seconds():.0f} s "
                                            f"ago (cooldown {cooldown.total_seconds():.0f} s)", last)
    key = f"{PREFIX}{data_key}/{len(claims) + 1:04d}/claim.json"
    # The claimant id makes every claim's bytes unique, so a retried write cannot pass for another's.
    body = {"data_key": data_key, "decision": decision, "claimed_at": now.isoformat(), "evidence": evidence_key,
            "claimant": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"}
    try:
        put_json(store, key, body)
    except ObjectExists:
        return Claim(False, key, "another monitor claimed this alert first", get_json(store, key))
    # Read back: an S3 server too old for If-None-Match overwrites instead of refusing; this catches most
    # such races, not all (see README, "The alert").
    stored = get_json(store, key)
    if stored.get("claimant") != body["claimant"]:
        return Claim(False, key, "another monitor claimed this alert first", stored)
    return Claim(True, key, "", None)


def record_run(store: Store, claim_key: str, run: dict) -> None:
    put_json(store, claim_key.replace("/claim.json", "/run.json"), run)
