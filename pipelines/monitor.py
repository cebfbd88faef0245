"""`tinymlops monitor`: run the drift monitor; on an alert, start one continuous-training run.

The drift-monitor pipeline runs here under kfp.local (on the cluster: inside the CronJob's pod). When its
decision is drift of a kind in `monitor.trigger_on`, or when no model is in production yet and there is
labelled data (the first model), the monitor claims the alert in the store (components/alerts.py: one run
per alert, even with monitors racing; the last run for the same data is judged first: succeeded, still
going, or dead and retried) and starts the continuous-training run: a local kfp.local run, kept alive by a
heartbeat beside its claim, or with `submit` a run created through the KFP API. Every monitor run that
reached a decision leaves a performance record (components/performance.py): the accuracy on new labels, the
drift evidence, the decision and the run it started; `tinymlops report` charts them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from components.alerts import claim_trigger, heartbeat, record_outcome, record_run
from components.config import Config
from components.drift_decision import drift_kinds
from components.performance import record_monitor_run
from components.store import Store, get_json


def trigger_reason(decision: dict, config: Config) -> str:
    """Why this decision should start a training run, or "" when it should not."""
    wanted = sorted(drift_kinds(decision["decision"]) & set(config.monitor.trigger_on))
    if wanted:
        return f"{'+'.join(wanted)} drift"
    if not decision.get("production_model") and decision.get("labelled_windows"):
        return "no model in production yet: train the first one"
    if decision.get("relabelled_windows"):  # an import of labels triggers the run that uses them
        return f"{decision['relabelled_windows']} labels changed since the production model was trained"
    return ""


def start_training(store: Store, config: Config, pipeline_root: Path,
                   submit: Callable[[], dict] | None = None, runner: str = "subprocess", verbose: bool = False) -> dict:
    """Start continuous-training: through `submit` (the KFP API) or locally with `runner`, waiting for it."""
    if submit is not None:
        return {"where": "kfp", **submit()}
    from pipelines.local import run_pipeline

    return {"where": "local", **run_pipeline("continuous-training", store, config, pipeline_root, runner, verbose)}


def act_on_decision(store: Store, config: Config, decision_key: str, start: Callable[[], dict],
                    kfp_state: Callable[[str], str] | None = None) -> dict:
    """Start one training run (`start`) for the drift decision at `decision_key`, if it calls for one and
    the last run claimed for the same data neither goes on nor succeeded within the cooldown (a dead one is
    retried: components/alerts.py). `kfp_state` reads a KFP run's state. Returns what happened."""
    decision = get_json(store, decision_key)
    reason = trigger_reason(decision, config)
    if not reason:
        return {"started": False, "reason": f"decision {decision['decision']!r}: nothing to do"}
    claim = claim_trigger(store, decision["data_key"], decision["decision"], config.monitor,
                          evidence_key=decision_key, kfp_state=kfp_state)
    previous = claim.previous.__dict__ if claim.previous else None
    if not claim.claimed:
        return {"started": False, "reason": claim.reason, "alert": claim.key, "previous": previous}
    with heartbeat(store, claim.key, config.monitor.heartbeat_s):
        try:
            run = start()
        except BaseException as exc:  # recorded, so that the next monitor may try again at once
            interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
            record_outcome(store, claim.key, "interrupted" if interrupted else "start_failed",
                           f"{type(exc).__name__}: {exc}")
            raise
    record_run(store, claim.key, {k: v for k, v in run.items() if k != "text"})
    if run.get("where") == "local":  # a KFP run's outcome is read from the API by a later monitor
        record_outcome(store, claim.key, "failed" if run.get("failed") else "succeeded",
                       f"model {run.get('model_version')}" if run.get("model_version") else "")
    return {"started": True, "reason": reason, "alert": claim.key, "run": run, "attempt": claim.attempt,
            "previous": previous}


def monitor(store: Store, config: Config, pipeline_root: Path, *, submit: Callable[[], dict] | None = None,
            kfp_state: Callable[[str], str] | None = None, runner: str = "subprocess", verbose: bool = False) -> dict:
    """Both pipelines run locally with `runner` (subprocess or container), unless `submit` starts training
    (then `kfp_state` reads the state of the KFP run an earlier monitor started)."""
    from components.registry import sync_pointer
    from pipelines.local import run_pipeline

    repaired = sync_pointer(store)  # a run that stopped between a promotion and its copy
    summary = run_pipeline("drift-monitor", store, config, pipeline_root, runner, verbose)
    summary["command"] = "monitor"
    if repaired:
        summary["text"] += f"\n  repaired: {repaired}"
    if summary["failed"] or not summary.get("decision_key"):
        summary["trigger"] = {"started": False, "reason": "the drift monitor failed"}
        return summary
    trigger = act_on_decision(store, config, summary["decision_key"],
                              lambda: start_training(store, config, pipeline_root, submit, runner, verbose),
                              kfp_state)
    summary["trigger"] = trigger
    summary["performance_key"] = record_monitor_run(store, summary["decision_key"], trigger)
    summary["failed"] = bool(trigger.get("run", {}).get("failed"))
    return summary


def monitor_text(s: dict) -> str:
    trigger = s["trigger"]
    lines = [s["text"]]
    previous = trigger.get("previous")
    if previous:
        lines.append(f"last run claimed for this data: {previous['state']} ({previous['detail']}); {previous['claim']}")
    if trigger["started"]:
        run = trigger["run"]
        attempt = f" (attempt {trigger['attempt']})" if trigger.get("attempt", 1) > 1 else ""
        lines.append(f"ALERT ({trigger['reason']}): started continuous-training{attempt} "
                     f"{'through the KFP API: ' + run.get('url', '') if run['where'] == 'kfp' else 'locally'}; "
                     f"claim {trigger['alert']}")
        if run["where"] == "local":
            lines.append(run["text"])
    else:
        lines.append(f"no training run started: {trigger['reason']}")
    if s.get("performance_key"):  # absent when the drift monitor failed before deciding
        lines.append(f"performance record: {s['performance_key']} (`tinymlops report` charts them)")
    return "\n".join(lines)
