"""Model performance over time: one record per monitor run, and the accuracy chart drawn from them.

    performance/<time>.json        one monitor run: the production model's accuracy on the newly labelled
                                   windows (Wilson 95% interval, window count), the data-drift evidence, the
                                   decision, and the training run it started (model version, promoted or not)
    reports/<time>/report.html     `tinymlops report`'s page: self-contained, the chart embedded
    reports/<time>/accuracy.png    the page's chart

Records are written once and never changed: the series is their list in key (time) order. The accuracy is
the one detect-drift's concept test measured, so chart and decision cannot disagree. Its interval is Wilson's,
binomial over windows; windows of one device are correlated, so it is narrower than the device-clustered
variance the decision's test uses: the chart shows how many windows back a point, the test decides.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from components import layout, registry
from components.store import Store, get_json, put_json


def report_keys(at: datetime) -> tuple[str, str]:
    """(page, chart) keys of one report."""
    folder = layout.report_folder(at)
    return folder + "report.html", folder + "accuracy.png"


def wilson(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's): unlike p ± z·se it stays in [0, 1] and is sane near 0
    and 1."""
    from scipy import stats

    if n <= 0:
        return 0.0, 1.0
    interval = stats.binomtest(correct, n).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _accuracy(correct: int, n: int, **extra) -> dict:
    low, high = wilson(correct, n)
    return {"accuracy": correct / n, "correct": correct, "windows": n, "low": low, "high": high,
            "interval": "Wilson 95%", **extra}


def new_label_accuracy(decision: dict) -> dict | None:
    """The production model's accuracy on the newly labelled windows, as detect-drift's concept test measured it."""
    concept = decision.get("concept_drift")
    if not concept or not concept.get("windows"):
        return None
    correct = sum(row["correct"] for row in concept["per_device"].values())
    return _accuracy(correct, concept["windows"], holdout_accuracy=concept["holdout_accuracy"],
                     p_value=concept["p_value"], drifted=concept["drifted"])


def data_drift_evidence(decision: dict) -> dict | None:
    data = decision.get("data_drift")
    if not data:
        return None
    adjusted = {k: v for k, v in data["adjusted_p_values"].items() if v is not None}
    smallest = sorted(adjusted.items(), key=lambda kv: kv[1])[:5]
    return {"drifted": data["drifted"], "drifted_features": data["drifted_features"],
            "features": len(data["features"]), "alpha": data["alpha"],
            "smallest_adjusted_p_values": dict(smallest), "note": data.get("note", "")}


def monitor_record(decision: dict, trigger: dict | None, trained: dict | None = None,
                   at: datetime | None = None) -> dict:
    """One monitor run's record (pure). `trigger`: pipelines/monitor.act_on_decision's result (None: not yet
    acted on); `trained`: the holdout accuracy of the model its run trained (`model_holdout`)."""
    run = (trigger or {}).get("run")
    return {
        "at": (at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "measured_at": decision.get("created"), "decision": decision["decision"],
        "decision_key": decision.get("decision_key"), "dataset_version": decision.get("dataset_version"),
        "production_model": decision.get("production_model"), "new_windows": decision.get("new_windows", 0),
        "accuracy": new_label_accuracy(decision), "data_drift": data_drift_evidence(decision),
        "trigger": trigger and {"started": trigger["started"], "reason": trigger["reason"],
                                "alert": trigger.get("alert")},
        "run": run and _outcome(run, trained),
    }


def _outcome(run: dict, trained: dict | None) -> dict:
    if run.get("where") == "kfp":  # submitted: its outcome is the cluster's, later (registry promotions)
        return {"where": "kfp", "run_id": run.get("run_id"), "url": run.get("url"), "model_version": None,
                "promoted": None, "failed": None}
    version = run.get("model_version")
    return {"where": "local", "model_version": version, "failed": bool(run.get("failed")),
            "promoted": bool(version) and run.get("production") == version, "holdout": trained}


def model_holdout(store: Store, version: str) -> dict | None:
    """A registered model's int8 accuracy on its holdout devices, with its interval."""
    if not registry.model_file_exists(store, version, "metrics.json"):
        return None
    metrics = json.loads(registry.read_model_file(store, version, "metrics.json"))
    n = int(metrics["holdouts"]["holdout"]["windows"])
    return _accuracy(round(metrics["int8_accuracy"] * n), n) if n else None


def record_monitor_run(store: Store, decision_key: str, trigger: dict, at: datetime | None = None) -> str:
    """Write this monitor run's record; return its key."""
    at = at or datetime.now(UTC)
    version = (trigger.get("run") or {}).get("model_version")
    record = monitor_record(get_json(store, decision_key), trigger, version and model_holdout(store, version), at)
    key = layout.performance_record(at)
    put_json(store, key, record)
    return key


def read_series(store: Store) -> list[dict]:
    return [{**get_json(store, k), "key": k} for k in store.list(layout.PERFORMANCE) if k.endswith(".json")]


# -------------------------------------------------------------------------------------------------- chart


@dataclass(frozen=True)
class Point:
    at: str
    series: str  # "new labels": production model on newly labelled windows; "holdout": a trained model's holdout
    accuracy: float
    low: float
    high: float
    windows: int
    label: str


@dataclass(frozen=True)
class Mark:
    at: str
    kind: str  # "monitor run" | "alert" | "retraining" | "promotion" | "not promoted"
    label: str
    until: str = ""  # a local retraining run: when it ended (a run submitted to KFP ends on the cluster)


@dataclass
class Chart:
    png: bytes
    points: list[Point]
    marks: list[Mark]

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()

    def to_dict(self) -> dict:
        return {"points": [asdict(p) for p in self.points], "marks": [asdict(m) for m in self.marks]}


def chart_data(series: list[dict]) -> tuple[list[Point], list[Mark]]:
    """What the chart draws (pure): accuracy points with their intervals, and the events marked."""
    points, marks = [], []
    for r in series:
        measured = r.get("measured_at") or r["at"]
        marks.append(Mark(measured, "monitor run", r["decision"]))  # every run shows, measured or not
        if r["decision"] != "none":
            marks.append(Mark(measured, "alert", f"{r['decision']} drift"))
        a = r.get("accuracy")
        if a:
            points.append(Point(measured, "new labels", a["accuracy"], a["low"], a["high"], a["windows"],
                                r.get("production_model") or ""))
        run = r.get("run")
        if not run:
            continue
        local = run["where"] == "local"
        marks.append(Mark(measured, "retraining", "local run" if local else "submitted to KFP",
                          r["at"] if local else ""))
        if local:
            version = run.get("model_version") or "failed"
            marks.append(Mark(r["at"], "promotion" if run["promoted"] else "not promoted", version))
            h = run.get("holdout")
            if h:
                points.append(Point(r["at"], "holdout", h["accuracy"], h["low"], h["high"], h["windows"], version))
    return points, marks


def accuracy_chart(series: list[dict]) -> Chart:
    """Accuracy over time as a PNG: error bars from the intervals; alerts, retraining runs and promotions marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display: PNG bytes only
    import matplotlib.pyplot as plt

    points, marks = chart_data(series)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    try:
        _plot_points(ax, points)
        _plot_marks(ax, marks)
        _dress(ax, bool(points or marks))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return Chart(buffer.getvalue(), points, marks)


def _when(at: str) -> datetime:
    """An ISO time as the naive UTC datetime matplotlib's date axis takes."""
    return datetime.fromisoformat(at).astimezone(UTC).replace(tzinfo=None)


def _plot_points(ax, points: list[Point]) -> None:
    """The accuracy points, each series with its error bars and each point with its accuracy and count."""
    for kind, style in (("new labels", dict(fmt="o-", color="tab:blue", label="production model on newly "
                                            "labelled windows (Wilson 95%)")),
                        ("holdout", dict(fmt="^", color="tab:green", markersize=9,
                                         label="retrained model on its holdout devices (Wilson 95%)"))):
        chosen = [p for p in points if p.series == kind]
        if chosen:
            ax.errorbar([_when(p.at) for p in chosen], [p.accuracy for p in chosen],
                        yerr=[[p.accuracy - p.low for p in chosen], [p.high - p.accuracy for p in chosen]],
                        capsize=4, **style)
        for p in chosen:
            left = kind == "holdout"  # a run ends at its promotion: the chart's right edge, often
            ax.annotate(f"{p.accuracy:.1%} (n={p.windows})", (_when(p.at), p.accuracy),
                        xytext=(-6 if left else 6, -14), ha="right" if left else "left",
                        textcoords="offset points", fontsize=8)


def _plot_marks(ax, marks: list[Mark]) -> None:
    """The events: monitor runs as ticks, runs as bands or lines, promotions labelled; one legend entry a kind."""
    seen = set()
    for m in marks:
        style = {"monitor run": dict(color="tab:gray", label="monitor run"),
                 "alert": dict(color="tab:red", linestyle="-", label="drift alert"),
                 "retraining": dict(color="tab:orange", linestyle="--", label="retraining run"),
                 "promotion": dict(color="tab:green", linestyle=":", label="promotion"),
                 "not promoted": dict(color="tab:gray", linestyle=":", label="trained, not promoted")}[m.kind]
        label = None if m.kind in seen else style["label"]
        seen.add(m.kind)
        if m.kind == "monitor run":  # a tick on the time axis
            ax.plot([_when(m.at)], [0], marker="|", markersize=16, linestyle="none", clip_on=False,
                    **{**style, "label": label})
        elif m.until:  # a run's duration as a band
            ax.axvspan(_when(m.at), _when(m.until), color=style["color"], alpha=0.15, label=label)
        else:
            ax.axvline(_when(m.at), alpha=0.7, **{**style, "label": label})
        if m.kind in ("promotion", "not promoted"):
            ax.annotate(m.label, (_when(m.at), 0.02), rotation=90, fontsize=7, xytext=(3, 0),
                        textcoords="offset points", color=style["color"])


def _dress(ax, drawn: bool) -> None:
    """The axes' scales, labels, title and grid; the legend when anything was `drawn`, else a note."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import PercentFormatter

    if not drawn:
        ax.text(0.5, 0.5, "no monitor runs recorded yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.margins(x=0.1)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("accuracy")
    ax.set_title("Model performance: accuracy rate")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize=8, frameon=False)


def points_table(chart: Chart) -> str:
    """The plotted points as an HTML table (what the chart shows, in numbers)."""
    rows = "".join(f"<tr><td>{html.escape(p.at)}</td><td>{html.escape(p.series)}</td><td>{p.accuracy:.1%}</td>"
                   f"<td>{p.low:.1%} – {p.high:.1%}</td><td>{p.windows}</td><td>{html.escape(p.label)}</td></tr>"
                   for p in chart.points)
    return ("<table><tr><th>time (UTC)</th><th>series</th><th>accuracy</th><th>Wilson 95%</th><th>windows</th>"
            f"<th>model</th></tr>{rows}</table>")


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
         "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3}")


def chart_page(chart: Chart, title: str, note: str = "") -> str:
    """A self-contained HTML page of the chart and its points (the KFP UI's view of them)."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(note)}</p><img alt='accuracy over time' src='{chart.data_uri()}'>"
            f"{points_table(chart)}</body></html>")
