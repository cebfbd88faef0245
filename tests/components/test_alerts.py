"""The drift alert: one training run per alert and cooldown, even with monitors racing (local and S3 stores)."""

import threading
from datetime import UTC, datetime, timedelta

from components.alerts import claim_trigger, record_outcome
from components.config import Config, MonitorConfig
from components.store import get_json, put_json
from pipelines.monitor import act_on_decision, trigger_reason

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SIX_HOURS = MonitorConfig(cooldown_hours=6)


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
    record_outcome(store, first.key, "succeeded", now=T0 + timedelta(minutes=20))
    again = claim_trigger(store, "ds-2--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=1))
    other_data = claim_trigger(store, "ds-3--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=1))
    later = claim_trigger(store, "ds-2--m-1", "concept", SIX_HOURS, now=T0 + timedelta(hours=7))
    assert first.claimed and other_data.claimed and later.claimed
    assert not again.claimed and "cooldown" in again.reason and again.key == first.key
    assert again.previous.state == "succeeded"
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
            return {"where": "kfp", "run_id": f"run-{i}"}
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
    assert get_json(store, winner[0]["alert"].replace("claim.json", "run.json")) == {"where": "kfp",
                                                                                     "run_id": f"run-{started[0]}"}
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


# ---------------------------------------------------------------------------- a claim knows its run

def claim_from_a_process_that_ended(store, data_key: str) -> str:
    """A claim made by a monitor process that is gone now (killed, or its machine closed)."""
    import multiprocessing

    def claim(queue):
        queue.put(claim_trigger(store, data_key, "concept", MonitorConfig()).key)

    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=claim, args=(queue,))
    child.start()
    key = queue.get(timeout=30)
    child.join(timeout=30)
    return key


def test_a_run_whose_monitor_died_is_marked_dead_and_claimed_again_at_once(store):
    dead_key = claim_from_a_process_that_ended(store, "ds-2--m-1")
    again = claim_trigger(store, "ds-2--m-1", "concept", MonitorConfig())
    assert again.claimed and again.key.endswith("/0002/claim.json") and again.attempt == 2
    assert again.previous.state == "dead" and "is gone" in again.previous.detail
    outcome = get_json(store, dead_key.replace("claim.json", "outcome.json"))
    assert outcome["state"] == "dead" and "is gone" in outcome["detail"]


def test_a_run_on_another_host_lives_while_its_heartbeat_is_fresh(store):
    claim = {"data_key": "ds-2--m-1", "decision": "concept", "claimed_at": T0.isoformat(), "evidence": "",
             "claimant": "node-7:41:abcd", "owner": {"host": "node-7", "pid": 41, "pid_start": "99"}}
    put_json(store, "alerts/ds-2--m-1/0001/claim.json", claim)
    put_json(store, "alerts/ds-2--m-1/0001/heartbeat.json", {"at": (T0 + timedelta(minutes=30)).isoformat()})
    policy = MonitorConfig(stale_after_s=300)
    alive = claim_trigger(store, "ds-2--m-1", "concept", policy, now=T0 + timedelta(minutes=33))
    assert not alive.claimed and "still going" in alive.reason and "node-7" in alive.reason
    silent = claim_trigger(store, "ds-2--m-1", "concept", policy, now=T0 + timedelta(minutes=36))
    assert silent.claimed and silent.previous.state == "dead"
    assert "no heartbeat for 360 s (limit 300 s)" in silent.previous.detail


def test_the_claimant_keeps_its_heartbeat_while_the_run_runs(store):
    put_json(store, "drift/ds-2/h/decision.json", decision())
    config = Config.from_dict({"monitor": {"heartbeat_s": 0.1, "stale_after_s": 1}})
    beats = []

    def start():
        import time

        for _ in range(4):
            time.sleep(0.15)
            beats.append(get_json(store, "alerts/ds-2--m-1/0001/heartbeat.json")["at"])
        return {"where": "local", "failed": False, "model_version": "m-2"}

    result = act_on_decision(store, config, "drift/ds-2/h/decision.json", start)
    assert result["started"] and len(set(beats)) >= 3  # refreshed while the run ran
    assert get_json(store, "alerts/ds-2--m-1/0001/outcome.json")["state"] == "succeeded"


def test_a_run_that_always_fails_is_retried_with_backoff_then_left_until_the_cooldown(store):
    policy = MonitorConfig(cooldown_hours=6, max_attempts=3, retry_backoff_s=600)
    now, keys = T0, []
    for expected_attempt, wait_s in ((1, 0), (2, 0), (3, 600)):
        if wait_s:
            early = claim_trigger(store, "ds-2--m-1", "concept", policy, now=now + timedelta(seconds=wait_s - 1))
            assert not early.claimed and "backoff" in early.reason and f"retry {expected_attempt} of 3" in early.reason
            now += timedelta(seconds=wait_s)
        claim = claim_trigger(store, "ds-2--m-1", "concept", policy, now=now)
        assert claim.claimed and claim.attempt == expected_attempt
        keys.append(claim.key)
        now += timedelta(minutes=5)
        record_outcome(store, claim.key, "failed", "train: out of memory", now=now)
    given_up = claim_trigger(store, "ds-2--m-1", "concept", policy, now=now + timedelta(hours=5))
    assert not given_up.claimed and "last 3 runs for the same data failed" in given_up.reason
    after_cooldown = claim_trigger(store, "ds-2--m-1", "concept", policy, now=now + timedelta(hours=6, seconds=1))
    assert after_cooldown.claimed and after_cooldown.key.endswith("/0004/claim.json")


def test_an_interrupted_run_is_recorded_and_does_not_hold_the_alert(store):
    put_json(store, "drift/ds-2/i/decision.json", decision())

    def interrupted():
        raise KeyboardInterrupt

    try:
        act_on_decision(store, Config(), "drift/ds-2/i/decision.json", interrupted)
    except KeyboardInterrupt:
        pass
    assert get_json(store, "alerts/ds-2--m-1/0001/outcome.json")["state"] == "interrupted"
    retried = act_on_decision(store, Config(), "drift/ds-2/i/decision.json", lambda: {"where": "local"})
    assert retried["started"] and retried["previous"]["state"] == "dead"


def test_a_kfp_run_is_judged_by_its_state_from_the_api(store):
    """Over the KFP REST protocol (tests/kfp_standin.py): RUNNING holds the alert, FAILED frees it."""
    from pipelines import kfp_api
    from tests.kfp_standin import KfpStandIn

    with KfpStandIn() as standin:
        client = kfp_api.connect(standin.host)
        put_json(store, "drift/ds-2/k/decision.json", decision())
        run_id = "7f0c0c3e-0000-4000-8000-000000000001"
        standin.runs[run_id] = {"run_id": run_id, "state": "RUNNING", "display_name": "ct"}

        def state(rid):
            return kfp_api.run_state(client, rid)

        first = act_on_decision(store, Config(), "drift/ds-2/k/decision.json",
                                lambda: {"where": "kfp", "run_id": run_id}, state)
        held = act_on_decision(store, Config(), "drift/ds-2/k/decision.json", lambda: {"where": "kfp"}, state)
        standin.runs[run_id]["state"] = "FAILED"
        freed = act_on_decision(store, Config(), "drift/ds-2/k/decision.json",
                                lambda: {"where": "kfp", "run_id": "second"}, state)
    assert first["started"] and not held["started"]
    assert "still going" in held["reason"] and f"KFP run {run_id} is RUNNING" in held["reason"]
    assert freed["started"] and freed["previous"]["state"] == "dead" and "FAILED" in freed["previous"]["detail"]
    assert get_json(store, first["alert"].replace("claim.json", "outcome.json"))["state"] == "failed"


def test_twenty_monitors_at_once_start_exactly_one_run_ten_times_over(store, tmp_path):
    """20 processes, released together, on a fresh alert and on one whose last run died; 10 rounds."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    for round_ in range(10):
        data = f"ds-{round_ + 10}"
        put_json(store, f"drift/{data}/r/decision.json", decision(version=data))
        if round_ % 2:  # the last run for this data died with its monitor
            claim_from_a_process_that_ended(store, f"{data}--m-1")
        barrier, started = fork.Barrier(20), fork.Queue()

        def one_monitor(i, data=data, barrier=barrier, started=started):
            barrier.wait()
            result = act_on_decision(store, Config(), f"drift/{data}/r/decision.json",
                                     lambda: {"where": "local", "failed": False, "monitor": i})
            started.put(i if result["started"] else None)

        monitors = [fork.Process(target=one_monitor, args=(i,)) for i in range(20)]
        for m in monitors:
            m.start()
        outcomes = [started.get(timeout=60) for _ in monitors]
        for m in monitors:
            m.join(timeout=30)
        assert sum(o is not None for o in outcomes) == 1, (round_, outcomes)
        runs = [k for k in store.list(f"alerts/{data}--m-1/") if k.endswith("/run.json")]
        assert len(runs) == 1, runs
