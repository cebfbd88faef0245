"""JSON for the drift results: numpy scalars and arrays as plain Python, NaN and infinities as null."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value):
    """Plain Python types for json.dumps (numpy scalars/arrays, NaN as None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
