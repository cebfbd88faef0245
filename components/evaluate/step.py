"""The evaluate step: the holdouts (components/holdouts.py) and the production model read from the store, then
core.py's evaluation of the candidate against them."""

from __future__ import annotations

from components.config import Config
from components.evaluate.core import Evaluation, ProductionModel, evaluate
from components.holdouts import load_holdouts
from components.registry import production, read_model_file
from components.store import Store


def load_production_model(store: Store) -> ProductionModel | None:
    version = production(store)
    return ProductionModel(version, read_model_file(store, version, "model.tflite")) if version else None


def run(store: Store, config: Config, dataset_version: str, float_model, tflite: bytes) -> Evaluation:
    """Evaluate the candidate (`float_model`, its int8 `tflite`) on `dataset_version`'s holdouts, against the
    production model."""
    return evaluate(float_model, tflite, load_holdouts(store, dataset_version, config), load_production_model(store),
                    config, dataset_version)
