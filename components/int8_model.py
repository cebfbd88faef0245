"""An int8 .tflite as the boards run it: raw sensor units in, int8 scores out.

Runs the model in the real TFLM runtime (PyPI tflite-micro) and in TFLite's
reference kernels (OpResolverType.BUILTIN_REF, bit-exact with TFLM), finds
the minimal tensor arena, and lists the model's operators. Inputs are matched
to unit groups by tensor name, so input order never has to be assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from components.model_inputs import InputGroup, model_inputs


@dataclass(frozen=True)
class InputQuantization:
    group: str
    index: int  # the input's index in the model (TFLite and TFLM agree)
    scale: float
    zero_point: int


def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def operator_names(model: bytes) -> list[str]:
    """Operators in execution order, read from the flatbuffer."""
    fb = _schema()
    parsed = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(model, 0))
    code_to_name = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for subgraph in parsed.subgraphs:
        for op in subgraph.operators or []:
            code = parsed.operatorCodes[op.opcodeIndex]
            # Codes below 127 live in the deprecated field, newer ones in builtinCode.
            number = max(code.builtinCode, code.deprecatedBuiltinCode)
            names.append(code.customCode.decode() if number == fb.BuiltinOperator.CUSTOM else code_to_name[number])
    return names


def input_tensor_names(model: bytes) -> list[str]:
    fb = _schema()
    subgraph = fb.Model.GetRootAsModel(model, 0).Subgraphs(0)
    return [subgraph.Tensors(subgraph.Inputs(i)).Name().decode() for i in range(subgraph.InputsLength())]


class Int8Model:
    def __init__(self, model: bytes, groups: list[InputGroup]):
        import tensorflow as tf

        self.model, self.groups = model, groups
        self._reference = tf.lite.Interpreter(
            model_content=model, num_threads=1,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
        self._reference.allocate_tensors()
        details = self._reference.get_input_details()
        names = input_tensor_names(model)
        if len(names) != len(groups):
            raise ValueError(f"model has {len(names)} inputs, the configuration has {len(groups)} unit groups "
                             f"({[g.unit for g in groups]}): it was trained for another data contract")
        self.inputs = []
        for group in groups:
            hits = [i for i, n in enumerate(names) if re.search(rf"(^|[_:/]){re.escape(group.name)}(:\d+)?$", n)]
            if len(hits) != 1:
                raise ValueError(f"no single model input named for {group.name!r} among {names}")
            scale, zero_point = details[hits[0]]["quantization"]
            self.inputs.append(InputQuantization(group.name, hits[0], float(scale), int(zero_point)))
        out = self._reference.get_output_details()[0]
        self.output_scale, self.output_zero_point = out["quantization"]
        self._output_index = out["index"]
        self._detail_index = [d["index"] for d in details]

    @property
    def ops(self) -> list[str]:
        return operator_names(self.model)

    def quantize(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw windows [N, T, C] -> int8 input arrays, one per unit group, as the firmware does it."""
        return [np.clip(np.round(a / q.scale) + q.zero_point, -128, 127).astype(np.int8)
                for a, q in zip(model_inputs(x, self.groups), self.inputs, strict=True)]

    def run_reference(self, x: np.ndarray) -> np.ndarray:
        """int8 scores [N, K] from TFLite's reference kernels."""
        quantized = self.quantize(x)
        out = []
        for k in range(len(x)):
            for q, arrays in zip(self.inputs, quantized, strict=True):
                self._reference.set_tensor(self._detail_index[q.index], arrays[k:k + 1])
            self._reference.invoke()
            out.append(self._reference.get_tensor(self._output_index)[0].copy())
        return np.array(out, dtype=np.int8).reshape(len(x), -1)

    def run_tflm(self, x: np.ndarray, arena_bytes: int) -> np.ndarray:
        """int8 scores [N, K] from the TFLM runtime with the given tensor arena."""
        interpreter = _tflm(self.model, arena_bytes)
        quantized = self.quantize(x)
        out = []
        for k in range(len(x)):
            for q, arrays in zip(self.inputs, quantized, strict=True):
                interpreter.set_input(arrays[k:k + 1], q.index)
            interpreter.invoke()
            out.append(np.array(interpreter.get_output(0))[0].copy())
        return np.array(out, dtype=np.int8).reshape(len(x), -1)

    def minimal_arena(self, probe: np.ndarray, low: int = 256, high: int = 256 * 1024) -> int:
        """Smallest arena (bytes) at which TFLM builds the interpreter and runs a window. Searched in a child
        process: the runtime crashes at some sizes instead of raising (components/tflm_arena_search.py)."""
        from components.tflm_arena_search import search

        window = self.quantize(probe[:1])
        return search(self.model, [(q.index, a) for q, a in zip(self.inputs, window, strict=True)], low, high)

    def dequantize(self, scores: np.ndarray) -> np.ndarray:
        return (scores.astype(np.float32) - self.output_zero_point) * self.output_scale


def _tflm(model: bytes, arena_bytes: int):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena_bytes)
