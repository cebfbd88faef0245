"""The production int8 model's scores for many windows at once, as TFLite's reference kernels compute them.

Int8Model.run_reference runs the model one window per interpreter call in TFLite's reference kernels
(bit-exact with TFLM on the boards): about 60-100 us a window, most of the drift monitor's time on a fleet.
Those kernels do fixed integer arithmetic: a convolution sums (input - input zero point) x weight in int32,
adds the bias, rescales with a fixed-point multiplier and gemmlowp's double rounding, adds the output zero
point and clamps. Here the same integers are computed for a batch with numpy: the sums as float32 matrix
products (exact: every product and partial sum is an integer below 2^24, checked per layer, else float64),
the rescaling in float32 where the result cannot be in doubt and in int64, step by step as the kernels do
it, where it could (`Requantize`).

Only what the models this project trains are made of is implemented: CONV_2D, DEPTHWISE_CONV_2D (depth
multiplier 1), MAX_POOL_2D, all VALID with unit dilation; CONCATENATION of tensors quantized alike; MEAN
(QuantizedMeanOrSumExtraArgs' fixed point); FULLY_CONNECTED; SOFTMAX (gemmlowp's fixed-point exp and
reciprocal). Anything else raises Unsupported, and the caller runs the interpreter. Checked bit for bit
against the interpreter: logits and scores (tests/components/detect_drift/test_detect_drift.py).

Two shortcuts give the same integers with less work: a 1x1 depthwise convolution (an int8 -> int8 map per
channel) becomes a lookup in the table of its 256 outputs per channel, computed by the kernel itself; and a
max pool right after a convolution pools the sums, then requantizes only what it kept (`_fuse_pools`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from components.model_inputs import InputGroup, model_inputs


class Unsupported(ValueError):
    """The model holds an operator or option this runner does not implement."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = math.floor(q * (1 << 31) + 0.5)  # std::round: q > 0, so half away from zero is half up
    if fixed == 1 << 31:
        fixed, shift = fixed // 2, shift + 1
    if shift < -31:
        return 0, 0
    return int(fixed), shift


def rescale(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (gemmlowp double rounding) on int64 `acc`, elementwise;
    `multiplier` and `shift` broadcast (one per output channel)."""
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    product = (acc << left) * multiplier
    # SaturatingRoundingDoublingHighMul: (product + nudge) / 2^31, C++ division (toward zero)
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    # RoundingDivideByPOT: round half away from zero
    mask = (np.int64(1) << right) - 1
    return (high >> right) + ((high & mask) > ((mask >> 1) + (high < 0)))


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def _high_mul(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    product = np.asarray(a, np.int64) * np.int64(b) if np.isscalar(b) else np.asarray(a, np.int64) * b
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    return np.where((np.asarray(a) == _I32_MIN) & (np.asarray(b) == _I32_MIN), _I32_MAX, high)


def _divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent, half away from zero."""
    mask = (np.int64(1) << exponent) - 1
    return (x >> exponent) + ((x & mask) > ((mask >> 1) + (x < 0)))


def _shift_left_saturating(x: np.ndarray, exponent: int) -> np.ndarray:
    return np.clip(x << exponent, _I32_MIN, _I32_MAX)


def _exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: a (raw, Q integer_bits) <= 0 -> exp(a) as raw Q0.31."""
    if integer_bits > 5:
        raise Unsupported("exp of inputs with more than 5 integer bits")
    fractional = 31 - integer_bits
    quarter = np.int64(1) << (fractional - 2)
    a_mod_quarter = (a & (quarter - 1)) - quarter
    # exp on [-1/4, 0): a Taylor expansion around -1/8
    x = _shift_left_saturating(a_mod_quarter, integer_bits) + (1 << 28)
    x2 = _high_mul(x, x)
    x3 = _high_mul(x2, x)
    x4 = _high_mul(x2, x2)
    poly = _divide_by_pot(_high_mul(_divide_by_pot(x4, 2) + x3, 715827883) + x2, 1)  # x4/24 + x3/6 + x2/2
    result = 1895147668 + _high_mul(np.full_like(x, 1895147668), x + poly)  # exp(-1/8) * (1 + ...)
    remainder = a_mod_quarter - a
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):  # exp(-2^exponent), Q0.31
        if integer_bits > exponent:
            bit = (remainder & (np.int64(1) << (fractional + exponent))) != 0
            result = np.where(bit, _high_mul(result, multiplier), result)
    return np.where(a == 0, _I32_MAX, result)  # (inputs of 5 integer bits or fewer: no clamp at -32)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp's one_over_one_plus_x_for_x_in_0_1 on raw Q0.31 values: Newton-Raphson division."""
    total = a + _I32_MAX  # RoundingHalfSum(a, One): (sum + sign) / 2, C++ division
    half_denominator = np.where(total >= 0, (total + 1) >> 1, -((1 - total) >> 1))
    x = 1515870810 + _high_mul(half_denominator, -1010580540)  # 48/17 - 32/17 d, Q2.29
    for _ in range(3):
        one_minus = (1 << 29) - _high_mul(half_denominator, x)
        x = x + _shift_left_saturating(_high_mul(x, one_minus), 2)
    return _shift_left_saturating(x, 1)


class Requantize:
    """Rescale int32 sums to int8 outputs per channel: `rescale`, + zero point, clamped to the activation.

    Each of `rescale`'s two roundings lands within half a unit of its exact quotient, so the result is the
    integer nearest the real value y = acc * multiplier * 2^(shift - 31) unless y lies within the inner
    rounding's reach (2^(shift - 1) for a right shift) of a half. y is computed in float32; where |y| <= 300
    its error (below 300 * 2^-23 + 2^-16) is added to that reach, and the few elements in doubt go through
    `rescale`. Where |y| > 256.5 the output clamps whatever the rounding (|y| + any zero point is past int8),
    so float32's larger error there cannot change it.
    """

    def __init__(self, multiplier, shift, zero_point: int, activation: tuple[int, int]):
        self.multiplier, self.shift = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
        self.scale = (self.multiplier * np.exp2(self.shift - 31.0)).astype(np.float32)
        reach = np.where(self.shift < 0, np.exp2(self.shift - 1.0), 0.0) + 1e-4
        self.sure = (0.5 - reach).astype(np.float32)
        self.zero_point, (self.low, self.high) = zero_point, activation

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        """`acc` [..., C]: integers, exactly held (float32 below 2^24, or float64)."""
        y = acc * self.scale
        out = np.rint(y)  # the nearest integer; a tie is in doubt below, so how rint breaks it does not matter
        y -= out  # in [-1/2, 1/2]: near +-1/2 when y is near a half
        np.abs(y, out=y)
        doubt = y >= self.sure
        if doubt.any():
            doubt = np.nonzero(doubt)
            shape = acc.shape
            out[doubt] = rescale(acc[doubt].astype(np.int64), np.broadcast_to(self.multiplier, shape)[doubt],
                                 np.broadcast_to(self.shift, shape)[doubt])
        np.clip(out, self.low - self.zero_point, self.high - self.zero_point, out=out)
        out = out.astype(np.int8)
        out += np.int8(self.zero_point)  # in range: clipped to the activation less the zero point above
        return out


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    scale: np.ndarray  # float32 [1] or [channels]
    zero_point: int
    data: np.ndarray | None  # constant tensors (weights, biases, axes)
    name: str


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated  # no TensorFlow import

    return schema_py_generated


def _activation_range(code: int, t: _Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: NONE, RELU, RELU6 (codes 0, 1, 3)."""
    if code == 0:
        return -128, 127
    if code == 1:
        return max(-128, t.zero_point), 127
    if code == 3:
        return max(-128, t.zero_point), min(127, t.zero_point + round(6.0 / float(t.scale[0])))
    raise Unsupported(f"fused activation {code}")


class Int8Batch:
    """Scores (and logits) of an int8 .tflite for a batch of windows, bit for bit the reference kernels'."""

    def __init__(self, model: bytes, groups: list[InputGroup]):
        fb = _schema()
        parsed = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(model, 0))
        if len(parsed.subgraphs) != 1:
            raise Unsupported("more than one subgraph")
        graph = parsed.subgraphs[0]
        codes = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
        self.tensors = [self._tensor(t, parsed.buffers) for t in graph.tensors]
        self.ops = []
        for op in graph.operators:
            code = parsed.operatorCodes[op.opcodeIndex]
            self.ops.append((codes[max(code.builtinCode, code.deprecatedBuiltinCode)], list(op.inputs),
                             list(op.outputs), op.builtinOptions))
        if not self.ops or self.ops[-1][0] != "SOFTMAX":
            raise Unsupported("the model does not end in SOFTMAX")
        self.logits_tensor = self.ops[-1][1][0]
        self._softmax_plan(self.tensors[self.logits_tensor], self.tensors[self.ops[-1][2][0]], self.ops[-1][3])
        self.inputs = []
        names = [self.tensors[i].name for i in graph.inputs]
        for group in groups:  # matched by name, as Int8Model matches them
            hits = [i for i, n in enumerate(names) if re.search(rf"(^|[_:/]){re.escape(group.name)}(:\d+)?$", n)]
            if len(hits) != 1:
                raise Unsupported(f"no single model input named for {group.name!r} among {names}")
            self.inputs.append(graph.inputs[hits[0]])
        self.groups = groups
        self._plans = _fuse_pools([self._as_lookup(self._plan(*op)) for op in self.ops[:-1]])

    @staticmethod
    def _tensor(t, buffers) -> _Tensor:
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [0.0], dtype=np.float32)
        zero_point = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
        raw = buffers[t.buffer].data if t.buffer < len(buffers) else None
        dtype = {9: np.int8, 2: np.int32, 0: np.float32}.get(t.type)  # schema TensorType: INT8, INT32, FLOAT32
        data = np.frombuffer(bytes(raw), dtype=dtype).reshape(t.shape) if raw is not None and dtype else None
        return _Tensor(tuple(int(d) for d in t.shape), scale, zero_point, data, t.name.decode())

    # ------------------------------------------------------------------------------------------ planning

    def _plan(self, kind: str, inputs: list[int], outputs: list[int], options) -> tuple:
        out = self.tensors[outputs[0]]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w, b = (self.tensors[i] for i in inputs[:3])
            if (options.padding != 1 or options.strideH != 1 or options.strideW != 1
                    or options.dilationHFactor != 1 or options.dilationWFactor != 1):
                raise Unsupported(f"{kind} other than VALID, stride 1, dilation 1")
            if kind == "DEPTHWISE_CONV_2D" and options.depthMultiplier != 1:
                raise Unsupported("DEPTHWISE_CONV_2D with a depth multiplier")
            # PopulateConvolutionQuantizationParams: per channel, input * filter / output scales in double
            scales = np.broadcast_to(w.scale, (out.shape[-1],))
            plan = [quantize_multiplier(float(x.scale[0]) * float(s) / float(out.scale[0])) for s in scales]
            weights = w.data[0] if kind == "DEPTHWISE_CONV_2D" else w.data  # [kh, kw, C] or [O, kh, kw, I]
            taps = int(np.prod(weights.shape[:2] if kind == "DEPTHWISE_CONV_2D" else weights.shape[1:]))
            bias = np.zeros(out.shape[-1]) if b.data is None else b.data.astype(np.float64)
            exact = _exact_in(taps, bias)
            return (kind, inputs[0], outputs[0], x.zero_point, weights.astype(exact), bias.astype(exact),
                    Requantize([m for m, _ in plan], [s for _, s in plan], out.zero_point,
                               _activation_range(options.fusedActivationFunction, out)))
        if kind == "MAX_POOL_2D":
            if options.padding != 1:
                raise Unsupported("MAX_POOL_2D other than VALID")
            return (kind, inputs[0], outputs[0], (options.filterHeight, options.filterWidth),
                    (options.strideH, options.strideW), _activation_range(options.fusedActivationFunction, out))
        if kind == "CONCATENATION":
            parts = [self.tensors[i] for i in inputs]
            if any(p.zero_point != out.zero_point or not np.array_equal(p.scale, out.scale) for p in parts):
                raise Unsupported("CONCATENATION of differently quantized tensors")
            if options.fusedActivationFunction != 0:
                raise Unsupported("CONCATENATION with an activation")
            return (kind, inputs, outputs[0], options.axis)
        if kind == "MEAN":
            x, axis = self.tensors[inputs[0]], self.tensors[inputs[1]]
            axes = tuple(sorted(int(a) % len(x.shape) for a in axis.data.reshape(-1)))
            if 0 in axes:
                raise Unsupported("MEAN over the batch")
            count = int(np.prod([x.shape[a] for a in axes]))
            # PrepareMeanOrSum's multiplier, with 1/count folded in as QuantizedMeanOrSumExtraArgs folds it
            multiplier, shift = quantize_multiplier(float(x.scale[0]) / float(out.scale[0]))
            fold = min(count.bit_length() - 1, 32, 31 + shift)
            return (kind, inputs[0], outputs[0], axes, bool(options.keepDims), x.zero_point * count,
                    np.int64((multiplier << fold) // count), np.int64(shift - fold), out.zero_point)
        if kind == "FULLY_CONNECTED":
            x, w, b = (self.tensors[i] for i in inputs[:3])
            if w.zero_point != 0 or len(w.scale) != 1:
                raise Unsupported("FULLY_CONNECTED with per-channel or asymmetric weights")
            # GetQuantizedConvolutionMultipler: the scales' product in float, then divided in double
            product = float(np.float32(x.scale[0]) * np.float32(w.scale[0]))
            multiplier, shift = quantize_multiplier(product / float(out.scale[0]))
            bias = np.zeros(w.data.shape[0]) if b.data is None else b.data.astype(np.float64)
            exact = _exact_in(w.data.shape[1], bias)
            return (kind, inputs[0], outputs[0], x.zero_point, w.data.T.astype(exact), bias.astype(exact),
                    Requantize([multiplier], [shift], out.zero_point,
                               _activation_range(options.fusedActivationFunction, out)))
        raise Unsupported(f"operator {kind}")

    def _as_lookup(self, plan: tuple) -> tuple:
        """A 1x1 DEPTHWISE_CONV_2D maps each int8 input to an int8 output channel by channel (the models' input
        normalisation): its table of all 256 inputs per channel, computed by the kernel itself, gives the same
        outputs by lookup."""
        if plan[0] != "DEPTHWISE_CONV_2D" or plan[4].shape[:2] != (1, 1):
            return plan
        src, dst, weights = plan[1], plan[2], plan[4]
        channels = weights.shape[2]
        every = np.repeat(np.arange(-128, 128, dtype=np.int8)[:, None], channels, axis=1)  # [256, C]
        table = self._depthwise_conv_2d({src: every[None, :, None, :]}, *plan[1:]).reshape(256, channels)
        return ("LOOKUP", src, dst, table.reshape(-1), np.arange(channels, dtype=np.intp))

    def _softmax_plan(self, logits: _Tensor, out: _Tensor, options) -> None:
        """The reference int8 softmax's parameters: PreprocessSoftmaxScaling and CalculateInputRadius for
        inputs in Q5.26, and the output TFLite requires (scale 1/256, zero point -128)."""
        if out.zero_point != -128 or float(out.scale[0]) != 1 / 256:
            raise Unsupported("SOFTMAX output other than scale 1/256, zero point -128")
        real = min(float(options.beta) * float(logits.scale[0]) * (1 << (31 - 5)), (1 << 31) - 1.0)
        self.softmax_multiplier, self.softmax_shift = quantize_multiplier(real)
        if self.softmax_shift < 0:
            raise Unsupported("SOFTMAX whose input multiplier is below one")
        self.softmax_diff_min = -math.floor(31.0 * (1 << 26) / (1 << self.softmax_shift))

    # ------------------------------------------------------------------------------------------- running

    def scores(self, x: np.ndarray, chunk: int = 256) -> np.ndarray:
        """int8 [N, K]: the model's output (its int8 softmax) for raw windows `x`, as Int8Model.run_reference."""
        return self.softmax(self.logits(x, chunk))

    def softmax(self, logits: np.ndarray) -> np.ndarray:
        """TFLite's reference int8 softmax (gemmlowp fixed point) of int8 logits [N, K]."""
        diff = logits.astype(np.int64) - logits.max(axis=1, keepdims=True)
        inside = diff >= self.softmax_diff_min
        scaled = _high_mul(diff << self.softmax_shift, self.softmax_multiplier)  # Q5.26
        exp = _exp_on_negative_values(scaled, 5)  # Q0.31
        total = np.where(inside, _divide_by_pot(exp, 12), 0).sum(axis=1)  # Q12.19
        headroom = 32 - np.frexp(total.astype(np.float64))[1]  # CountLeadingZeros (total >= 1)
        reciprocal = _one_over_one_plus_x((total << headroom) - (1 << 31))  # GetReciprocal
        exponent = (12 - headroom + 31 - 8)[:, None]
        out = _divide_by_pot(_high_mul(exp, reciprocal[:, None]), exponent) - 128
        return np.where(inside, np.clip(out, -128, 127), -128).astype(np.int8)


    def quantize(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw windows [N, T, C] -> int8 inputs, as Int8Model.quantize (the same expression, float32)."""
        out = []
        for a, index in zip(model_inputs(x, self.groups), self.inputs, strict=True):
            t = self.tensors[index]
            scale, zero_point = float(t.scale[0]), t.zero_point
            out.append(np.clip(np.round(a / scale) + zero_point, -128, 127).astype(np.int8))
        return out

    def logits(self, x: np.ndarray, chunk: int = 256) -> np.ndarray:
        """int8 [N, K]: the SOFTMAX's input for raw windows `x` [N, T, C], `chunk` windows at a time (the
        temporaries then stay in the CPU's cache)."""
        parts = []
        for start in range(0, len(x), chunk):
            values = dict(zip(self.inputs, self.quantize(x[start:start + chunk]), strict=True))
            for plan in self._plans:
                values[plan[2]] = getattr(self, "_" + plan[0].lower())(values, *plan[1:])
            parts.append(values[self.logits_tensor].reshape(len(values[self.inputs[0]]), -1))
        return np.concatenate(parts) if parts else np.zeros((0, self.tensors[self.logits_tensor].shape[-1]), np.int8)

    @staticmethod
    def _conv_2d(values, src, dst, zp, w, bias, requantize):
        return requantize(_conv_sums(values[src], zp, w, bias))

    @staticmethod
    def _conv_2d_max_pool(values, src, dst, zp, w, bias, requantize, size, stride, act):
        pooled = _max_pool(_conv_sums(values[src], zp, w, bias), size, stride)
        return np.clip(requantize(pooled), *act).astype(np.int8)

    @staticmethod
    def _depthwise_conv_2d(values, src, dst, zp, w, bias, requantize):
        x = values[src].astype(w.dtype)  # [N, H, W, C]
        x -= zp
        kh, kw, _ = w.shape
        oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        acc = np.zeros((len(x), oh, ow, x.shape[3]), dtype=w.dtype)
        for fy in range(kh):  # a tap at a time (the models' are 1x1: a per-channel gain)
            for fx in range(kw):
                acc += x[:, fy:fy + oh, fx:fx + ow, :] * w[fy, fx]
        acc += bias
        return requantize(acc)

    @staticmethod
    def _lookup(values, src, dst, table, channels):
        x = values[src]  # [N, H, W, C]: output = table[(x + 128) * C + channel]
        index = x.astype(np.intp)
        index += 128
        index *= len(channels)
        index += channels
        return table[index]

    @staticmethod
    def _max_pool_2d(values, src, dst, size, stride, act):
        return np.clip(_max_pool(values[src], size, stride), *act).astype(np.int8)

    @staticmethod
    def _concatenation(values, srcs, dst, axis):
        return np.concatenate([values[s] for s in srcs], axis=axis)

    @staticmethod
    def _mean(values, src, dst, axes, keep_dims, zero_sum, multiplier, shift, out_zp):
        # QuantizedMeanOrSumExtraArgs: the int32 sum less count x the zero point, rescaled (exactly: few values)
        total = values[src].astype(np.int64).sum(axis=axes, keepdims=keep_dims) - zero_sum
        return np.clip(rescale(total, multiplier, shift) + out_zp, -128, 127).astype(np.int8)

    @staticmethod
    def _fully_connected(values, src, dst, zp, w, bias, requantize):
        x = values[src].reshape(len(values[src]), -1).astype(w.dtype)
        x -= zp
        acc = x @ w
        acc += bias
        return requantize(acc)


def _conv_sums(x: np.ndarray, zp: int, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A VALID, stride-1 CONV_2D's int32 sums + bias [N, oh, ow, O] (exact in w's dtype) of int8 x [N, H, W, I]."""
    x = x.astype(w.dtype)
    x -= zp
    o, kh, kw, i = w.shape
    patches = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # [N, oh, ow, I, kh, kw]
    n, oh, ow = patches.shape[:3]
    cols = patches.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * i)
    acc = cols @ w.reshape(o, -1).T
    acc += bias
    return acc.reshape(n, oh, ow, o)


def _max_pool(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """VALID max pooling of [N, H, W, C]: the largest of the strided slices, one per filter tap."""
    oh, ow = (x.shape[1] - size[0]) // stride[0] + 1, (x.shape[2] - size[1]) // stride[1] + 1
    out = None
    for fy in range(size[0]):
        for fx in range(size[1]):
            tap = x[:, fy:fy + stride[0] * (oh - 1) + 1:stride[0], fx:fx + stride[1] * (ow - 1) + 1:stride[1]]
            out = tap.copy() if out is None else np.maximum(out, tap, out=out)
    return out


def _fuse_pools(plans: list[tuple]) -> list[tuple]:
    """A MAX_POOL_2D fed by a CONV_2D alone pools the conv's sums before they are requantized: requantizing is
    monotone in the sum, channel by channel (a positive multiplier, two monotone roundings, a clamp), so the
    largest sum gives the largest output, and only the pooled outputs are requantized."""
    def sources(plan: tuple) -> list[int]:
        return list(plan[1]) if isinstance(plan[1], list) else [plan[1]]

    fused = []
    for plan in plans:
        feeder = fused[-1] if fused else None
        if (plan[0] == "MAX_POOL_2D" and feeder is not None and feeder[0] == "CONV_2D" and feeder[2] == plan[1]
                and sum(sources(p).count(plan[1]) for p in plans) == 1):
            fused[-1] = ("CONV_2D_MAX_POOL", feeder[1], plan[2], *feeder[3:], *plan[3:])
        else:
            fused.append(plan)
    return fused


def _exact_in(terms: int, bias: np.ndarray):
    """float32 when every partial sum of `terms` products (|input - zero point| <= 255, |weight| <= 128) plus
    the bias is an integer below 2^24, so BLAS sums it exactly in any order; float64 otherwise."""
    bound = terms * 255 * 128 + (float(np.abs(bias).max()) if bias.size else 0.0)
    return np.float32 if bound < 2 ** 24 else np.float64
