"""The drift alert: one training run per alert and cooldown, even with monitors racing (local and S3 stores)."""

import threading
from datetime import UTC, datetime, timedelta

from components.alerts import claim_trigger
from components.config import Config
from components.store import get_json, put_json
from pipelines.monitor import act_on_decision, trigger_reason

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SIX_HOURS = timedelta(hours=6)


def decision(kind="concept", production="m-1", version="ds-2", labelled=0):
    return {"decision": kind, "production_model": production, "dataset_version": version,
            "data_key": f"{version}--{production}", "labelled_windows": labelled}


def test_trigger_reason_follows_the_decision_and_the_configuration():
    config = Config()
    assert trigger_reason(decision("none"), config) == ""
    assert trigger_reason(decision("concept"), config) == "concept drift"
    assert trigger_reason(decision("data+concept"), config) == "concept+data drift"
    concept_only = Config.from_dict({"monitor": {"trigger_on": ["concept"]}})
    assert trigger_reason(decision("data"), concept_only) == ""
    assert "first" in trigger_reason(decision("none", production=None, labelled=40), config)
    assert trigger_reason(decision("none", production=None), config) == ""  # nothing labelled to train on
    assert trigger_reason(decision("none", production=None, version=None), config) == ""
    assert "12 labels changed" in trigger_reason({**decision("none"), "relabelled_windows": 12}, config)


def test_a_second_alert_for_the_same_data_within_the_cooldown_starts_nothing(store):
    first = claim_trigger(store, "ds-2--m-1", "concept", SIX_HOURS, now=T0)
    again = claim_trigger(store, "ds-2--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=1))
    other_data = claim_trigger(store, "ds-3--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=1))
    later = claim_trigger(store, "ds-2--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=7))
    assert first.claimed and other_data.claimed and later.claimed
    assert not again.claimed and "cooldown" in again.reason and again.key == first.key
    assert later.key.endswith("/0002/claim.json")


def test_monitors_racing_on_one_alert_start_exactly_one_run(store):
    config = Config()
    put_json(store, "drift/ds-2/x/decision.json", decision())
    started, results = [], []
    barrier = threading.Barrier(6)

    def one_monitor(i):
        barrier.wait()

        def start():
            started.append(i)
            return {"run_id": f"run-{i}"}
        results.append(act_on_decision(store, config, "drift/ds-2/x/decision.json", start))

    threads = [threading.Thread(target=one_monitor, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1
    winner = [r for r in results if r["started"]]
    assert len(winner) == 1 and winner[0]["reason"] == "concept drift"
    # The run is recorded beside the claim, for people and for the next monitor.
    assert get_json(store, winner[0]["alert"].replace("claim.json", "run.json")) == {"run_id": f"run-{started[0]}"}
    assert all(not r["started"] and r["reason"] for r in results if r is not winner[0])


def test_no_drift_claims_nothing(store):
    put_json(store, "drift/ds-2/y/decision.json", decision("none"))
    result = act_on_decision(store, Config(), "drift/ds-2/y/decision.json", lambda: {"run_id": "never"})
    assert not result["started"] and not store.list("alerts/")


def test_a_run_that_could_not_be_started_does_not_hold_back_the_next_monitor(store):
    put_json(store, "drift/ds-2/z/decision.json", decision())

    def unreachable():
        raise RuntimeError("cannot reach the KFP API")

    try:
        act_on_decision(store, Config(), "drift/ds-2/z/decision.json", unreachable)
    except RuntimeError:
        pass
    retried = act_on_decision(store, Config(), "drift/ds-2/z/decision.json", lambda: {"run_id": "run-2"})
    assert retried["started"] and retried["alert"].endswith("/0002/claim.json")
