"""The model registry in the store: immutable model versions and a production pointer.

    models/<version>/model.tflite       the int8 model the boards run
    models/<version>/model.h5           the float Keras model
    models/<version>/metrics.json       evaluation metrics
    models/<version>/blessing.json      the evaluator's verdict and its reasons
    models/<version>/model_card.md      the same, for a person
    models/<version>/ops.json           operator list (the firmware's op resolver)
    models/<version>/training.json      dataset version, seed, configuration, curves
    models/<version>/curves.png         training curves
    models/<version>/registered.json    written last: the version exists once this does
    models/promotions/<n>.json          the n-th move of the pointer: version, previous, who, why, forced
    models/production.json              a copy of the newest promotion, for people browsing the store

A version is visible (`list_models`, `read_model`) only once registered.json, written after every other
file, exists: a crash mid-write leaves a folder that is ignored and named by `incomplete_versions`.

Promotion is one atomic step: creating the next numbered record in models/promotions/ (create-if-absent,
so two promotions racing get different numbers and each names the other as `previous`). The newest record
IS the pointer: `production()` reads it, so the pointer and its record cannot disagree. production.json
is written after, as a copy; if a crash comes between, the next promotion or monitor brings it up to date
(`sync_pointer`). The pointer moves only through `promote`: a blessed version, or an unblessed one with
force, a person's name and a reason, all recorded.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from components import layout
from components.store import ObjectExists, ObjectMissing, Store, StoreError, get_json, put_json

_NUMBERED = re.compile(re.escape(layout.PROMOTIONS) + r"(\d{6})\.json")  # older stores also hold <time>.json records
_RACES = 20


class PromotionRefused(RuntimeError):
    pass


@dataclass(frozen=True)
class Promotion:
    version: str
    previous: str | None
    blessed: bool
    forced: bool
    by: str
    reason: str
    at: str
    number: int = 0  # its place in models/promotions/ (0: a record from before numbered promotions)


def new_model_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("m-%Y%m%d-%H%M%S-%f")


def register(store: Store, version: str, files: dict[str, bytes], record: dict) -> None:
    """Write one immutable model version; `registered.json` goes last."""
    for name, data in files.items():
        store.put_bytes(layout.model_file(version, name), data)
    put_json(store, layout.model_file(version, "registered.json"),
             {"version": version, "files": sorted(files), **record})


def list_models(store: Store) -> list[str]:
    return sorted(k.split("/")[1] for k in store.list(layout.MODELS) if k.endswith("/registered.json"))


def incomplete_versions(store: Store) -> list[str]:
    """Version folders without registered.json: a run died while writing them. Never read as models."""
    folders = {k.split("/")[1] for k in store.list(layout.MODELS)
               if k.count("/") >= 2 and not k.startswith(layout.PROMOTIONS)}
    return sorted(folders - set(list_models(store)))


def read_model(store: Store, version: str) -> dict:
    try:
        return get_json(store, layout.model_file(version, "registered.json"))
    except ObjectMissing:
        raise ObjectMissing(f"no model version {version!r} in {store.url} "
                            "(see `tinymlops models list`)") from None


def read_model_file(store: Store, version: str, name: str) -> bytes:
    """One file of a model version (model.tflite, metrics.json, ...): how every reader gets a model's files."""
    return store.get_bytes(layout.model_file(version, name))


def model_file_exists(store: Store, version: str, name: str) -> bool:
    return store.exists(layout.model_file(version, name))


def _numbered(store: Store) -> list[str]:
    return sorted(k for k in store.list(layout.PROMOTIONS) if _NUMBERED.fullmatch(k))


def production(store: Store) -> str | None:
    """The version in production: the newest promotion's (before numbered promotions: the pointer's)."""
    return _production(store, _numbered(store))


def _production(store: Store, log: list[str]) -> str | None:
    if log:
        return get_json(store, log[-1])["version"]
    return get_json(store, layout.PRODUCTION_POINTER)["version"] if store.exists(layout.PRODUCTION_POINTER) else None


def promotions(store: Store) -> list[dict]:
    """Every move of the pointer, oldest first."""
    keys = sorted(store.list(layout.PROMOTIONS), key=lambda k: (bool(_NUMBERED.fullmatch(k)), k))
    return [get_json(store, k) for k in keys]


def sync_pointer(store: Store) -> str | None:
    """Bring production.json up to the newest promotion when a crash left it behind; say so, else None."""
    note = None
    for _ in range(_RACES):  # until the copy matches a newest record read after it was written
        log = _numbered(store)
        if not log:
            return None
        newest = get_json(store, log[-1])
        if store.exists(layout.PRODUCTION_POINTER) and get_json(store, layout.PRODUCTION_POINTER) == newest:
            return note
        put_json(store, layout.PRODUCTION_POINTER, newest, overwrite=True)
        note = f"{layout.PRODUCTION_POINTER} brought up to date with {log[-1]}"
    return note


def promote(store: Store, version: str, *, force: bool = False, by: str = "", reason: str = "",
            now: datetime | None = None) -> Promotion:
    """Point production at `version` if the evaluator blessed it, or if forced with a reason."""
    record = read_model(store, version)
    blessed = bool(record.get("blessed"))
    if not blessed and not force:
        why = "; ".join(record.get("blessing_reasons", [])) or "no blessing recorded"
        raise PromotionRefused(f"model {version} is not blessed ({why}); "
                               "promote it anyway with --force --reason TEXT")
    if force and not blessed and not reason.strip():
        raise PromotionRefused("a forced promotion needs --reason: it is recorded with who and why")
    now = now or datetime.now(UTC)
    for _ in range(_RACES):
        log = _numbered(store)
        number = int(_NUMBERED.fullmatch(log[-1]).group(1)) + 1 if log else 1
        promotion = Promotion(version, _production(store, log), blessed, force and not blessed,
                              by or _user(), reason or "blessed by the evaluator", now.isoformat(), number)
        try:  # the atomic step: this record is the pointer from now on
            put_json(store, layout.promotion(number), promotion.__dict__)
        except ObjectExists:  # another promotion took this number first: read the log again
            continue
        sync_pointer(store)
        return promotion
    raise StoreError(f"cannot promote {version}: {_RACES} other promotions took the next number first")


def rollback(store: Store, *, by: str = "", reason: str = "") -> Promotion:
    """Point production back at the version it replaced (recorded as a promotion)."""
    if not store.exists(layout.PRODUCTION_POINTER):
        raise PromotionRefused("nothing is in production: nothing to roll back")
    pointer = get_json(store, layout.PRODUCTION_POINTER)
    if not pointer.get("previous"):
        raise PromotionRefused(f"model {pointer['version']} was the first in production: nothing to roll back to")
    return promote(store, pointer["previous"], force=True, by=by,
                   reason=reason or f"rollback from {pointer['version']}")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"
