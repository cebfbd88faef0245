"""The cron of a KFP recurring run, checked before it is sent: KFP's scheduler (robfig/cron) reads 6 fields,
seconds first, and would take a Unix 5-field cron with its fields shifted."""

from __future__ import annotations

import re

from pipelines.kfp_errors import KfpApiError

CRON_FORMAT = "SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK"
_CRON_FIELDS = (  # name, low, high, names
    ("seconds", 0, 59, None),
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def validate_cron(cron: str) -> str:
    """The cron, whitespace-normalised, if KFP's scheduler (robfig/cron) reads it as intended; else KfpApiError.

    KFP takes 6 fields, seconds first: SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK, e.g.
    `0 0 3 * * *` (03:00 every day) or `0 */30 * * * *` (every 30 minutes); or a descriptor such as
    `@daily` / `@every 6h`. A Unix 5-field cron is refused: the server would accept it with the
    fields shifted (seconds first), silently running at other times than meant.
    """
    text = " ".join(str(cron or "").split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or (text.startswith("@every ") and _GO_DURATION.match(text[7:])):
            return text
        raise KfpApiError(f"cron {cron!r}: unknown descriptor; use one of {sorted(_DESCRIPTORS)} or "
                          f"'@every <duration>' (e.g. '@every 6h'), or 6 fields: {CRON_FORMAT}")
    fields = text.split(" ") if text else []
    if len(fields) != 6:
        hint = f"; did you mean '0 {text}' (at second 0)?" if len(fields) == 5 else ""
        raise KfpApiError(f"cron {cron!r} has {len(fields)} field(s); KFP recurring runs need 6, seconds first: "
                          f"{CRON_FORMAT} (e.g. '0 0 3 * * *' for 03:00 every day){hint}")
    for value, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        problem = _cron_field_problem(value, low, high, names)
        if problem:
            raise KfpApiError(f"cron {cron!r}: {field} field {value!r} {problem}; expected 6 fields: {CRON_FORMAT}")
    return text


def _cron_field_problem(value: str, low: int, high: int, names: tuple[str, ...] | None) -> str | None:
    """What is wrong with one field (values low..high, or `names` for them), or None."""
    def number(token: str) -> int | None:
        if token.isdigit():
            return int(token)
        if names and token.upper() in names:
            return names.index(token.upper()) + low
        return None

    for part in value.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"has an invalid step {step!r} (a positive number)"
        if span in ("*", "?"):
            continue
        start, dash, end = span.partition("-")
        first, last = number(start), (number(end) if dash else None)
        if first is None or (dash and last is None):
            allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
            return f"is not a number, range, list or '*' (allowed values {allowed})"
        for n in (first, last):
            if n is not None and not low <= n <= high:
                return f"is out of range {low}-{high}"
        if last is not None and last < first:
            return f"has a range that ends before it starts ({span})"
    return None
