"""Classification metrics, the blessing, and the model card: pure functions of numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from components.boards import BudgetCheck, LatencyCheck
from components.config import EvaluateConfig


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]) -> dict:
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        per_class[name] = {"precision": float(confusion[i, i] / predicted) if predicted else 0.0,
                           "recall": float(confusion[i, i] / actual) if actual else 0.0,
                           "support": int(actual)}
    accuracy = float(np.trace(confusion) / confusion.sum()) if confusion.sum() else 0.0
    return {"accuracy": accuracy, "per_class": per_class, "confusion": confusion.tolist(),
            "windows": int(confusion.sum())}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Blessing:
    blessed: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """Why it was not blessed (empty when blessed)."""
        return [c.detail for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"blessed": self.blessed, "reasons": self.reasons, "checks": [asdict(c) for c in self.checks]}


def bless(int8_accuracy: float, production_accuracy: float | None, production_version: str | None,
          budgets: list[BudgetCheck], tflm_mismatches: int, config: EvaluateConfig,
          extra: list[Check] = ()) -> Blessing:
    """Blessed only if every check passes: floor, no regression against production, budgets, parity,
    and `extra` (the Cortex-M4 checks, target_checks)."""
    checks = [Check("accuracy_floor", int8_accuracy >= config.accuracy_floor,
                    f"int8 accuracy {int8_accuracy:.2%} vs floor {config.accuracy_floor:.2%}")]
    if production_version is None or production_accuracy is None:
        checks.append(Check("no_regression", True, "no model in production: nothing to compare with"))
    else:
        floor = production_accuracy - config.max_regression
        checks.append(Check("no_regression", int8_accuracy >= floor,
                            f"int8 accuracy {int8_accuracy:.2%} vs production {production_version} "
                            f"{production_accuracy:.2%} (allowed margin {config.max_regression:.2%}) "
                            "on the same holdout"))
    for budget in budgets:
        checks.append(Check(f"budget_{budget.board}", budget.fits, budget.describe()))
    checks.append(Check("tflm_parity", tflm_mismatches == 0,
                        f"{tflm_mismatches} holdout windows where TFLM differs from the reference kernels"))
    checks += extra
    return Blessing(all(c.passed for c in checks), checks)


def target_checks(target, latency: list[LatencyCheck], config: EvaluateConfig) -> list[Check]:
    """The board's own ISA: the host's int8 scores on the Cortex-M4F with both kernel sets, and the latency
    budget. Where the check cannot run here it passes unless required, and says why."""
    if target is None:
        return []
    if not target.runs:
        return [Check("cortex_m4_parity", not config.require_target_check, target.statement())]
    checks = [Check("cortex_m4_parity", target.verified, target.statement())]
    return checks + [Check(f"latency_{c.board}", c.fits, c.describe()) for c in latency]


def model_card(version_hint: str, dataset_version: str, metrics: dict, blessing: Blessing,
               class_names: tuple[str, ...]) -> str:
    """A person's view of one evaluation (shown in the KFP UI and stored with the model)."""
    verdict = "BLESSED" if blessing.blessed else "NOT BLESSED"
    lines = [f"# Model card: {version_hint}", "", f"**{verdict}** for production.", "",
             f"Trained on dataset {dataset_version} (and its ancestors); split by device.", "",
             "## Checks", "", "| check | passed | detail |", "|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.passed else 'NO'} | {c.detail} |" for c in blessing.checks]
    lines += ["", "## Holdout", "", "| set | windows | float | int8 (TFLM) |", "|---|---|---|---|"]
    for name, result in metrics["holdouts"].items():
        lines.append(f"| {name} | {result['windows']} | {result['float_accuracy']:.2%} | "
                     f"{result['int8_accuracy']:.2%} |")
    main = metrics["holdouts"]["holdout"]
    lines += ["", "| class | precision | recall | support |", "|---|---|---|---|"]
    for name in class_names:
        c = main["int8"]["per_class"][name]
        lines.append(f"| {name} | {c['precision']:.2%} | {c['recall']:.2%} | {c['support']} |")
    lines += ["", "## Size", "", f"- .tflite: {metrics['tflite_bytes']:,} B",
              f"- tensor arena (TFLM, measured on {metrics['arena_measured_on']}): {metrics['arena_bytes']:,} B"
              f" (host: {metrics['host_arena_bytes']:,} B)",
              f"- operators: {', '.join(metrics['ops'])}"]
    return "\n".join(lines + target_card(metrics.get("cortex_m4"))) + "\n"


def target_card(record: dict | None) -> list[str]:
    if not record:
        return []
    lines = ["", "## On the board's ISA", "", record["statement"]]
    if record["kernels"]:
        lines += ["", "| kernels | bit-exact | instructions / inference | minimal arena | TFLM flash | TFLM static RAM "
                  "| stack peak |", "|---|---|---|---|---|---|---|"]
        for name, run in record["kernels"].items():
            sizes = run["sizes"]
            lines.append(f"| {name} | {run['bit_exact_windows']}/{record['windows']} | "
                         f"{run['instructions_per_inference']:,} | {run['arena_min_bytes']:,} B | "
                         f"{sizes.get('tflm_flash_bytes', 0):,} B | {sizes.get('tflm_static_ram_bytes', 0):,} B | "
                         f"{sizes.get('stack_peak_bytes', 0):,} B |")
    return lines
