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
    models/production.json              pointer: the version in production
    models/promotions/<time>.json       every pointer move: who, why, forced or blessed

The pointer moves only through `promote`: a blessed version, or an unblessed
one with force, a person's name and a reason, all recorded.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime

from components.store import ObjectMissing, Store, get_json, put_json

PREFIX = "models/"
POINTER = "models/production.json"
PROMOTIONS = "models/promotions/"


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


def new_model_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("m-%Y%m%d-%H%M%S-%f")


def register(store: Store, version: str, files: dict[str, bytes], record: dict) -> None:
    """Write one immutable model version; `registered.json` goes last."""
    for name, data in files.items():
        store.put_bytes(f"{PREFIX}{version}/{name}", data)
    put_json(store, f"{PREFIX}{version}/registered.json",
             {"version": version, "files": sorted(files), **record})


def list_models(store: Store) -> list[str]:
    return sorted(k.split("/")[1] for k in store.list(PREFIX) if k.endswith("/registered.json"))


def read_model(store: Store, version: str) -> dict:
    try:
        return get_json(store, f"{PREFIX}{version}/registered.json")
    except ObjectMissing:
        raise ObjectMissing(f"no model version {version!r} in {store.url} "
                            "(see `tinymlops models list`)") from None


def production(store: Store) -> str | None:
    return get_json(store, POINTER)["version"] if store.exists(POINTER) else None


def promotions(store: Store) -> list[dict]:
    return [get_json(store, k) for k in store.list(PROMOTIONS)]


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
    promotion = Promotion(version, production(store), blessed, force and not blessed,
                          by or _user(), reason or "blessed by the evaluator", now.isoformat())
    put_json(store, f"{PROMOTIONS}{now.strftime('%Y%m%dT%H%M%S%fZ')}.json", promotion.__dict__)
    put_json(store, POINTER, promotion.__dict__, overwrite=True)
    return promotion


def rollback(store: Store, *, by: str = "", reason: str = "") -> Promotion:
    """Point production back at the version it replaced (recorded as a promotion)."""
    if not store.exists(POINTER):
        raise PromotionRefused("nothing is in production: nothing to roll back")
    pointer = get_json(store, POINTER)
    if not pointer.get("previous"):
        raise PromotionRefused(f"model {pointer['version']} was the first in production: nothing to roll back to")
    return promote(store, pointer["previous"], force=True, by=by,
                   reason=reason or f"rollback from {pointer['version']}")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"
