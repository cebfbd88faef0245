"""`tinymlops report`: what the last promotion changed, on the data that made it necessary.

The production model and the one it replaced, both run as int8 on the same holdout devices' windows:
- newest holdout: the windows the newest ingest brought (current labels): after a drift, the drifted data;
- baseline holdout: the oldest version's windows, with their current labels (a concept drift's relabelling
  corrected the stale ones it found) and, for the replaced model, as labelled when it was trained (its own
  claim); on simulated data also against the simulator's truth, which knows every stale label.
Beside them: the drift decision that started it and the relabel queue it answered. Then the production
model's accuracy over the monitor runs (components/performance.py) as a chart, and a self-contained HTML page
in the store (reports/<time>/report.html: the chart embedded, the table, the evidence, links to each run's
reports, the production model's card, C sources and firmware build).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

import numpy as np

from components import layout, registry
from components.config import Config
from components.holdouts import Holdout, load_holdouts
from components.int8_model import Int8Model
from components.model_inputs import input_groups
from components.performance import STYLE, Chart, accuracy_chart, points_table, read_series, report_keys
from components.simulator import read_truth
from components.store import Store, get_json


def _accuracy(store: Store, version: str, holdout: Holdout | None, config: Config) -> float | None:
    if holdout is None or not len(holdout.y):
        return None
    model = Int8Model(registry.read_model_file(store, version, "model.tflite"), input_groups(config.data))
    return float(np.mean(model.run_reference(holdout.x).argmax(1) == holdout.y))


def _latest(store: Store, prefix: str, name: str, where=lambda value: True) -> tuple[str, dict] | None:
    for key in sorted((k for k in store.list(prefix) if k.endswith(name)), reverse=True):
        value = get_json(store, key)
        if where(value):
            return key, value
    return None


def before_after(store: Store, config: Config) -> dict:
    moves = registry.promotions(store)
    if not moves or not moves[-1].get("previous"):
        raise ValueError(f"{store.url}: no model has replaced another yet: nothing to compare "
                         "(run `make run`, or the monitor after drifted data arrives)")
    before, after = moves[-1]["previous"], moves[-1]["version"]
    now = load_holdouts(store, registry.read_model(store, after)["dataset_version"], config)
    then = load_holdouts(store, registry.read_model(store, before)["dataset_version"], config)
    rows = {
        "newest holdout": (now.get("newest"), True),
        "baseline holdout, current labels": (now.get("baseline"), True),
        "baseline holdout, labels as the old model was trained": (then.get("baseline"), False),
    }
    truth = read_truth(store)  # SYNTHETIC: exists only where the simulator wrote the data
    if truth and now.get("baseline") is not None:
        h = now["baseline"]
        names = config.data.class_names
        rows["baseline holdout, simulator truth (demo only)"] = (
            Holdout(h.x, np.array([names.index(truth[k]) if k in truth else -1 for k in h.keys]), h.keys), True)
    table = [{"windows": 0 if h is None else len(h.y), "set": name, "before": _accuracy(store, before, h, config),
              "after": _accuracy(store, after, h, config) if for_after else None}
             for name, (h, for_after) in rows.items()]
    # The drift found against the replaced model, and the queue made from that decision.
    drift = _latest(store, layout.DRIFT, "decision.json",
                    lambda d: d["decision"] != "none" and d.get("production_model") == before)
    queue = drift and _latest(store, layout.QUEUES, "manifest.json",
                              lambda q: q.get("decision") == drift[1].get("decision_key"))
    oracle = _import_counts(store, queue[0]) if queue else None
    return {"command": "report", "before": before, "after": after, "promotion": moves[-1], "table": table,
            "drift": drift and {"key": drift[0], "decision": drift[1]["decision"],
                                "concept": drift[1].get("concept_drift"), "data": drift[1].get("data_drift"),
                                "summary_link": store.link(layout.beside(drift[0], "summary.md")),
                                "report_link": store.link(layout.beside(drift[0], "report.html"))},
            "queue": queue and {"key": queue[0], **queue[1], "oracle_import": oracle}}


def _import_counts(store: Store, queue_manifest_key: str) -> dict | None:
    """The counts of the labels version the demo's oracle answer to this queue became, if any."""
    from components.datasets import list_versions, read_manifest

    export = layout.beside(queue_manifest_key, "oracle-export.json")
    for version in list_versions(store):
        manifest = read_manifest(store, version)
        if manifest.get("export", {}).get("source") == export:
            return manifest["counts"]
    return None


# ------------------------------------------------------------------ over time: the series, chart and page


def report(store: Store, config: Config, now: datetime | None = None) -> dict:
    """before_after, the performance series charted, and the page: both written into the store, linked."""
    result = before_after(store, config)
    series = read_series(store)
    chart = accuracy_chart(series)
    page_key, chart_key = report_keys(now or datetime.now(UTC))
    store.put_bytes(chart_key, chart.png)
    result.update(production=production_model(store, registry.production(store)),
                  runs=[_run_row(store, r) for r in series], performance=chart.to_dict(),
                  chart_key=chart_key, chart=store.link(chart_key), page_key=page_key, page=store.link(page_key))
    store.put_bytes(page_key, report_page(result, chart).encode())
    return result


def production_model(store: Store, version: str) -> dict:
    """Where the production model's card, C sources and firmware build are, and what the build says."""
    folder = layout.model_folder(version)
    build_key = folder + "firmware/build.json"
    build = get_json(store, build_key) if store.exists(build_key) else {}
    built = ", ".join(f"{board}: flash {s.get('flash_bytes', '?')} B, RAM {s.get('ram_bytes', '?')} B"
                      for board, s in sorted(build.get("sizes", {}).items()))
    return {"version": version, "model_card": store.link(folder + "model_card.md"),
            "c_folder": f"{store.url}/{folder}c/",
            "c_files": {k.rsplit("/", 1)[1]: store.link(k) for k in store.list(folder + "c/")},
            "firmware": {"built": bool(build.get("built")), "missing": build.get("missing", []),
                         "summary": (f"built ({built})" if build.get("built") else
                                     "NOT built: " + "; ".join(build.get("missing", []) or ["no build record"])),
                         "cortex_m4": build.get("cortex_m4", {}).get("statement", ""),
                         "build_json": store.link(build_key) if build else None}}


def _run_row(store: Store, r: dict) -> dict:
    """One monitor run for the page: what it measured and decided, what it started, links to its reports."""
    links = {}
    if r.get("decision_key"):
        links = {"drift summary": store.link(layout.beside(r["decision_key"], "summary.md")),
                 "evidently report": store.link(layout.beside(r["decision_key"], "report.html"))}
    run = r.get("run") or {}
    if run.get("model_version") and registry.model_file_exists(store, run["model_version"], "model_card.md"):
        links["model card"] = store.link(layout.model_file(run["model_version"], "model_card.md"))
    if run.get("url"):
        links["KFP run"] = run["url"]
    return {"at": r["at"], "decision": r["decision"], "production_model": r.get("production_model"),
            "accuracy": r.get("accuracy"), "data_drift": r.get("data_drift"), "trigger": r.get("trigger"),
            "run": r.get("run"), "links": links}


# ----------------------------------------------------------------------------------------------- text


def _pct(value: float | None) -> str:
    return "   -   " if value is None else f"{value:7.2%}"


def _cell_accuracy(a: dict | None) -> str:
    return "-" if not a else f"{a['accuracy']:.1%} [{a['low']:.1%}, {a['high']:.1%}] (n={a['windows']})"


def _cell_data(d: dict | None) -> str:
    if not d:
        return "-"
    smallest = min(d["smallest_adjusted_p_values"].values(), default=None)
    return (f"{len(d['drifted_features'])} of {d['features']} features drifted"
            + (f"; smallest adjusted p {smallest:.3g}" if smallest is not None else ""))


def _cell_run(run: dict | None) -> str:
    if not run:
        return "-"
    if run["where"] == "kfp":
        return f"submitted to KFP ({run.get('run_id')})"
    if run["failed"] or not run.get("model_version"):
        return "started, FAILED"
    return f"{run['model_version']}: {'promoted' if run['promoted'] else 'NOT promoted'}"


def _drift_lines(r: dict, links: bool = True) -> list[str]:
    drift = r["drift"]
    if not drift:
        return []
    lines = [f"Drift that started it: {drift['decision'].upper()}"]
    concept, data = drift["concept"], drift["data"]
    if concept:
        lines.append(f"  concept: accuracy on {concept['windows']} newly labelled windows "
                     f"{concept['accuracy']:.1%} "
                     f"vs holdout {concept['holdout_accuracy']:.1%}, p = {concept['p_value']:.2g}; classes worse: "
                     f"{', '.join(concept['worse_classes']) or '-'}; devices worse: "
                     f"{', '.join(concept['worse_devices']) or '-'}")
    if data:
        lines.append(f"  data: {len(data['drifted_features'])} of {len(data['features'])} features drifted "
                     f"(device-level permutation test, family-wise alpha {data['alpha']}): "
                     f"{', '.join(data['drifted_features'][:6]) or '-'}")
    if not links:
        return lines
    return lines + [f"  summary: {drift['summary_link']}", f"  evidently report: {drift['report_link']}"]


def _queue_lines(r: dict) -> list[str]:
    queue = r["queue"]
    if not queue:
        return []
    lines = [f"Relabel queue {queue['key']}: {queue['tasks']} windows {json.dumps(queue['counts'])}"]
    if queue.get("oracle_import"):
        c = queue["oracle_import"]
        lines.append(f"  answered by the simulator's oracle (SYNTHETIC, demo only): {c['labels_changed']} of "
                     f"{c['labels_imported']} labels changed")
    return lines


def _over_time_lines(r: dict) -> list[str]:
    if "runs" not in r:  # before_after alone: no series read
        return []
    if not r["runs"]:
        return ["Accuracy over time: no monitor run recorded yet (each `tinymlops monitor` records one)"]
    count = len(r["runs"])
    lines = [f"Accuracy over time ({count} monitor run{'s' if count > 1 else ''} recorded):"]
    for x in r["runs"]:
        lines.append(f"  {x['at']}  {x['decision']:<12} accuracy on new labels {_cell_accuracy(x['accuracy'])}; "
                     f"data: {_cell_data(x['data_drift'])}; run: {_cell_run(x['run'])}")
    return lines


def _where_to_look(r: dict) -> list[str]:
    if "production" not in r:
        return []
    p = r["production"]
    firmware = p["firmware"]
    return ["Where to look:",
            f"  report page:        {r['page']}",
            f"  accuracy chart:     {r['chart']}",
            f"  model card:         {p['model_card']}  (production {p['version']})",
            f"  C sources:          {p['c_folder']}  ({', '.join(p['c_files']) or 'none'})",
            f"  firmware build:     {firmware['summary']}"
            + (f"; {firmware['build_json']}" if firmware["build_json"] else "")]


def report_text(r: dict) -> str:
    lines = [f"Before/after the last promotion: {r['before']} -> {r['after']} ({r['promotion']['reason']})", "",
             f"  {'int8 accuracy on':<56}{'windows':>8}  {'before':>7}  {'after':>7}"]
    for row in r["table"]:
        lines.append(f"  {row['set']:<56}{row['windows']:>8}  {_pct(row['before'])}  {_pct(row['after'])}")
    for block in (_drift_lines(r), _queue_lines(r), _over_time_lines(r), _where_to_look(r)):
        if block:
            lines += ["", *block]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- page


def _links(links: dict) -> str:
    return " · ".join(f"<a href='{html.escape(url)}'>{html.escape(name)}</a>" for name, url in links.items())


def report_page(r: dict, chart: Chart) -> str:
    """The report as one self-contained HTML page: the chart embedded as base64; links only into the store."""
    e = html.escape
    table = "".join(f"<tr><td>{e(row['set'])}</td><td>{row['windows']}</td><td>{e(_pct(row['before']).strip())}"
                    f"</td><td>{e(_pct(row['after']).strip())}</td></tr>" for row in r["table"])
    runs = "".join(
        f"<tr><td>{e(x['at'])}</td><td>{e(x['decision'])}</td><td>{e(x['production_model'] or '-')}</td>"
        f"<td>{e(_cell_accuracy(x['accuracy']))}</td><td>{e(_cell_data(x['data_drift']))}</td>"
        f"<td>{e((x['trigger'] or {}).get('reason', '-'))}</td><td>{e(_cell_run(x['run']))}</td>"
        f"<td>{_links(x['links'])}</td></tr>" for x in r["runs"])
    evidence = "".join(f"<li>{e(line.strip())}</li>" for line in _drift_lines(r, links=False) + _queue_lines(r))
    if r["drift"]:
        drift_links = {"drift summary": r["drift"]["summary_link"], "evidently report": r["drift"]["report_link"]}
        evidence += f"<li>{_links(drift_links)}</li>"
    p = r["production"]
    firmware = p["firmware"]
    build_link = f" · {_links({'build.json': firmware['build_json']})}" if firmware["build_json"] else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>tinymlops report</title>
<style>{STYLE}</style></head><body>
<h1>tinymlops report</h1>
<p>Last promotion: <code>{e(r['before'])}</code> → <code>{e(r['after'])}</code> ({e(r['promotion']['reason'])}).
In production: <code>{e(p['version'])}</code>.</p>
<h2>Model performance: accuracy rate</h2>
<img alt="accuracy over time" src="{chart.data_uri()}">
<p>Error bars: Wilson 95% over windows. A device's windows are correlated, so the drift decision uses a
device-clustered test instead (each run's drift summary).</p>
{points_table(chart)}
<h2>Before and after the last promotion (int8)</h2>
<table><tr><th>int8 accuracy on</th><th>windows</th><th>before</th><th>after</th></tr>{table}</table>
<h2>Drift evidence</h2><ul>{evidence or '<li>no drift against the replaced model recorded</li>'}</ul>
<h2>Monitor runs</h2>
<table><tr><th>time (UTC)</th><th>decision</th><th>production model</th><th>accuracy on new labels</th>
<th>data drift</th><th>alert</th><th>training run</th><th>reports</th></tr>{runs}</table>
<h2>The production model</h2><ul>
<li><a href="{e(p['model_card'])}">model card</a></li>
<li>C sources: <code>{e(p['c_folder'])}</code>: {_links(p['c_files'])}</li>
<li>firmware: {e(firmware['summary'])}{build_link}</li>
<li>{e(firmware['cortex_m4'] or 'Cortex-M4 check: no record')}</li></ul>
</body></html>
"""
