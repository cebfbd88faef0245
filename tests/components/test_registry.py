"""The model registry and its gate: immutable versions, a pointer that moves only with a blessing."""

import json

import pytest

from components import registry
from components.registry import PromotionRefused
from components.store import ObjectExists
from pipelines.cli import main


def add_model(store, version, blessed, accuracy=0.95, reasons=()):
    registry.register(store, version, {"model.tflite": b"tflite-" + version.encode()},
                      {"dataset_version": "ds-1", "blessed": blessed, "blessing_reasons": list(reasons),
                       "int8_accuracy": accuracy})


def test_versions_are_immutable(store):
    add_model(store, "m-1", True)
    with pytest.raises(ObjectExists):
        add_model(store, "m-1", True)
    assert registry.list_models(store) == ["m-1"]


def test_blessed_version_promotes_and_is_recorded(store):
    add_model(store, "m-1", True)
    promotion = registry.promote(store, "m-1", by="ci")
    assert registry.production(store) == "m-1" and not promotion.forced and promotion.previous is None
    assert registry.promotions(store)[0]["by"] == "ci"


def test_unblessed_version_is_refused_unless_forced_with_a_reason(store):
    add_model(store, "m-1", True)
    registry.promote(store, "m-1")
    add_model(store, "m-2", False, 0.5, ["int8 accuracy 50.00% vs floor 90.00%"])
    with pytest.raises(PromotionRefused, match="not blessed .*floor 90.00%"):
        registry.promote(store, "m-2")
    with pytest.raises(PromotionRefused, match="needs --reason"):
        registry.promote(store, "m-2", force=True)
    assert registry.production(store) == "m-1"
    forced = registry.promote(store, "m-2", force=True, by="alice", reason="hotfix for the demo")
    assert forced.forced and forced.previous == "m-1" and registry.production(store) == "m-2"
    last = registry.promotions(store)[-1]
    assert (last["by"], last["reason"], last["forced"]) == ("alice", "hotfix for the demo", True)


def test_rollback_returns_to_the_replaced_version(local_store):
    add_model(local_store, "m-1", True)
    add_model(local_store, "m-2", True)
    with pytest.raises(PromotionRefused, match="nothing is in production"):
        registry.rollback(local_store)
    registry.promote(local_store, "m-1")
    with pytest.raises(PromotionRefused, match="first in production"):
        registry.rollback(local_store)
    registry.promote(local_store, "m-2")
    back = registry.rollback(local_store, by="bob")
    assert registry.production(local_store) == "m-1" and "rollback from m-2" in back.reason


def test_models_cli(local_store, capsys):
    add_model(local_store, "m-1", True)
    add_model(local_store, "m-2", False, 0.4, ["int8 accuracy 40.00% vs floor 90.00%"])
    common = ["--store", str(local_store.root), "--json"]
    assert main(["models", "promote", "m-1", *common]) == 0
    assert main(["models", "promote", "m-2", *common]) == 1
    assert "not blessed" in capsys.readouterr().err
    assert main(["models", "list", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["production"] == "m-1" and [m["blessed"] for m in listed["models"]] == [True, False]
    assert main(["models", "promote", "m-2", "--force", "--by", "carol", "--reason", "field test", *common]) == 0
    assert json.loads(capsys.readouterr().out)["forced"] is True
    assert main(["models", "rollback", *common]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "m-1"
    assert main(["models", "show", "m-9", *common]) == 1
    assert "no model version 'm-9'" in capsys.readouterr().err


def test_promotion_can_require_built_firmware(local_store):
    from components.promote.step import register_and_promote

    evaluation = {"blessing": {"blessed": True, "reasons": []},
                  "metrics": {"int8_accuracy": 0.97, "float_accuracy": 0.97, "tflite_bytes": 10, "arena_bytes": 5}}
    training = {"dataset_version": "ds-1", "seed": 7, "config_fingerprint": "abc"}
    not_built = {"built": False, "missing": ["PlatformIO ('pio' not on PATH)"]}
    refused = register_and_promote(local_store, {"model.tflite": b"m1"}, evaluation, training, not_built, True)
    assert not refused.promoted and "firmware not built" in refused.reasons[0] and "PlatformIO" in refused.reasons[0]
    assert registry.production(local_store) is None
    assert registry.read_model(local_store, refused.version)["not_promoted_because"] == refused.reasons
    allowed = register_and_promote(local_store, {"model.tflite": b"m2"}, evaluation, training, not_built, False)
    assert allowed.promoted and registry.production(local_store) == allowed.version


def test_promotion_is_one_record_that_is_the_pointer(store):
    """The newest numbered record is production; production.json is its copy, repaired if a run stopped
    between the two; promotions racing get consecutive numbers, each naming the one before."""
    import threading

    for version in ("m-1", "m-2", "m-3", "m-4"):
        add_model(store, version, True)
    registry.promote(store, "m-1")
    # A run that stopped right after the record: the record stands, the copy lags until the next sync.
    store.put_bytes("models/promotions/000002.json", json.dumps(
        {**registry.promotions(store)[0], "version": "m-2", "previous": "m-1", "number": 2}).encode())
    assert registry.production(store) == "m-2"
    assert json.loads(store.get_bytes("models/production.json"))["version"] == "m-1"
    assert "brought up to date" in registry.sync_pointer(store)
    assert json.loads(store.get_bytes("models/production.json"))["version"] == "m-2"
    assert registry.sync_pointer(store) is None

    barrier = threading.Barrier(2)

    def promote(version):
        barrier.wait()
        registry.promote(store, version, by=version)

    racers = [threading.Thread(target=promote, args=(v,)) for v in ("m-3", "m-4")]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    log = registry.promotions(store)
    assert [p["number"] for p in log] == [1, 2, 3, 4]
    assert [p["previous"] for p in log[1:]] == [p["version"] for p in log[:-1]]  # one chain, no fork
    assert registry.production(store) == log[-1]["version"] in ("m-3", "m-4")
    assert json.loads(store.get_bytes("models/production.json")) == log[-1]


def test_a_half_written_version_is_never_read_as_a_model(store):
    add_model(store, "m-1", True)
    store.put_bytes("models/m-2/model.tflite", b"half")  # the run died before registered.json
    assert registry.list_models(store) == ["m-1"]
    assert registry.incomplete_versions(store) == ["m-2"]
    with pytest.raises(Exception, match="no model version 'm-2'"):
        registry.read_model(store, "m-2")


def test_models_list_names_incomplete_versions(local_store, capsys):
    add_model(local_store, "m-1", True)
    local_store.put_bytes("models/m-2/model.tflite", b"half")
    assert main(["models", "list", "--store", str(local_store.root)]) == 0
    out = capsys.readouterr().out
    assert "m-1" in out and "ignored, incomplete" in out and "m-2" in out
