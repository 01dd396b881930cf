"""dlib's 128-d face ResNet, read from its ``.dat`` file and run with NumPy.

The ``dlib-bin`` wheel is built without BLAS, so its own convolution loops cost about
110 ms per face on this machine's CPUs. The weights are the same whichever program
multiplies them: this module reads dlib's serialisation of ``anet_type`` (the network in
dlib's ``dnn_face_recognition_ex.cpp``) and runs the forward pass as im2col + matrix
products on NumPy's bundled OpenBLAS, which releases the interpreter lock, so concurrent
callers run in parallel. Descriptors equal dlib's within 1e-4 (tested; ~1e-6 in practice),
so stored embeddings and the calibrated thresholds carry over unchanged.

Only inference is needed, so each affine layer (batch norm frozen at training time) is
folded into the convolution before it when the file is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

Array = NDArray[np.float32]


class ModelFormatError(ValueError):
    """The file is not the serialised dlib face ResNet this module knows."""


# --- dlib's serialisation primitives (dlib/serialize.h, dlib/cuda/tensor.h) ------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelFormatError("unexpected end of file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def read_int(self) -> int:
        # One control byte (low nibble: byte count, 0x80: negative), then little-endian bytes.
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise ModelFormatError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def read_bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise ModelFormatError(f"bad boolean at {self.pos - 1}")
        return ch == b"1"

    def read_str(self) -> str:
        return self._take(self.read_int()).decode("ascii", errors="replace")

    def read_float(self) -> float:
        # mantissa * 2**exponent, both as dlib integers.
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(mantissa * 2.0**exponent)

    def read_tensor(self) -> Array:
        if self.read_int() != 2:
            raise ModelFormatError("unsupported tensor version")
        shape = tuple(self.read_int() for _ in range(4))
        count = shape[0] * shape[1] * shape[2] * shape[3]
        values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        if self.read_int() != 1:
            raise ModelFormatError("unsupported alias tensor version")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return n, k, nr, nc


# --- layer details -------------------------------------------------------------------------


@dataclass
class Conv:
    weight: Array  # (kh * kw * c_in, c_out), rows ordered (kh, kw, c_in) like the patches _conv builds
    bias: Array  # (c_out,)
    kernel: int
    stride: int
    padding: int


@dataclass(frozen=True)
class Affine:
    gamma: Array  # (c,)
    beta: Array  # (c,)


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    size: int  # 0 = over the whole feature map
    stride: int
    padding: int


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class AddPrev:
    pass


@dataclass(frozen=True)
class Dense:
    weight: Array  # (n_in, n_out)


Layer = Conv | Affine | Pool | Relu | AddPrev | Dense


def _read_details(r: _Reader) -> Layer:
    tag = r.read_str()
    if tag in ("con_4", "con_5", "con_6"):
        params = r.read_tensor().reshape(-1)
        n_filters = r.read_int()
        nr, nc, stride_y, stride_x, pad_y, pad_x = (r.read_int() for _ in range(6))
        filters = r.read_alias_tensor()
        r.read_alias_tensor()  # biases
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.read_float()
        use_bias = r.read_bool() if tag in ("con_5", "con_6") else True
        if tag == "con_6":
            r.read_bool()  # use_relu: never set in the face network
        if nr != nc or stride_y != stride_x or pad_y != pad_x or filters[0] != n_filters:
            raise ModelFormatError("only square convolutions are supported")
        n_weights = filters[0] * filters[1] * filters[2] * filters[3]
        w = params[:n_weights].reshape(filters)  # (c_out, c_in, kh, kw)
        bias = params[n_weights : n_weights + n_filters] if use_bias else np.zeros(n_filters, np.float32)
        weight = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, n_filters))
        return Conv(weight=weight, bias=bias.astype(np.float32), kernel=nr, stride=stride_y, padding=pad_y)
    if tag in ("affine_", "affine_2"):
        params = r.read_tensor().reshape(-1)
        gamma_shape = r.read_alias_tensor()
        r.read_alias_tensor()  # beta: same shape, right after gamma in params
        r.read_int()  # mode: convolutional (per channel) in this network
        if tag == "affine_2" and r.read_bool():
            raise ModelFormatError("disabled affine layers are not supported")
        k = gamma_shape[1] * gamma_shape[2] * gamma_shape[3]
        return Affine(gamma=params[:k].copy(), beta=params[k : 2 * k].copy())
    if tag in ("relu_", "relu_2"):
        if tag == "relu_2" and r.read_bool():
            raise ModelFormatError("disabled relu layers are not supported")
        return Relu()
    if tag in ("max_pool_2", "avg_pool_2"):
        nr, nc, stride_y, stride_x, pad_y, pad_x = (r.read_int() for _ in range(6))
        if nr != nc or stride_y != stride_x or pad_y != pad_x:
            raise ModelFormatError("only square pooling is supported")
        return Pool(kind=tag[:3], size=nr, stride=stride_y, padding=pad_y)
    if tag == "add_prev_":
        return AddPrev()
    if tag in ("fc_2", "fc_3"):
        n_out, n_in = r.read_int(), r.read_int()
        params = r.read_tensor().reshape(-1)
        r.read_alias_tensor()  # weights
        r.read_alias_tensor()  # biases
        bias_mode = r.read_int()
        for _ in range(4):
            r.read_float()
        if tag == "fc_3":
            r.read_bool()
        if bias_mode != 1:  # FC_NO_BIAS: the face network's last layer is fc_no_bias
            raise ModelFormatError("only fc_no_bias layers are supported")
        return Dense(weight=params[: n_in * n_out].reshape(n_in, n_out).copy())
    raise ModelFormatError(f"unknown layer {tag!r}")


def _skip_layer_state(r: _Reader, version: int) -> None:
    """What add_layer stores after its details: training flags and (empty) gradient buffers."""
    for _ in range(3):
        r.read_bool()
    r.read_tensor()  # x_grad
    r.read_tensor()  # cached_output
    if version >= 2:
        r.read_tensor()  # params_grad


# --- the network --------------------------------------------------------------------------

# Kinds of the layers from input to output, as anet_type nests them. "T" is a tag or skip
# layer (they store nothing but their place); ares / ares_down are dlib's residual blocks.
_ARES = ["T", "Conv", "Affine", "Relu", "Conv", "Affine", "AddPrev", "Relu"]
_ARES_DOWN = ["T", "Conv", "Affine", "Relu", "Conv", "Affine", "T", "T", "Pool", "AddPrev", "Relu"]
_LEVELS = (  # (filters, whether the first block downsamples, blocks)
    (32, False, 3),
    (64, True, 4),
    (128, True, 3),
    (256, True, 3),
    (256, True, 1),
)


def _expected_kinds() -> list[str]:
    kinds = ["Conv", "Affine", "Relu", "Pool"]
    for _, down, blocks in _LEVELS:
        for b in range(blocks):
            kinds += _ARES_DOWN if down and b == 0 else _ARES
    return [*kinds, "Pool", "Dense"]


@dataclass
class _Block:
    conv1: Conv
    conv2: Conv
    down: Pool | None  # the shortcut's pooling on a downsampling block


class FaceResNet:
    """The forward pass: 150×150 RGB face chips in, 128-d descriptors out."""

    CHIP_SIZE = 150

    def __init__(self, path: Path) -> None:
        r = _Reader(path.read_bytes())
        if r.read_int() != 1 or r.read_str() != "loss_metric_2":
            raise ModelFormatError("not a dlib metric-learning network")
        r.read_float()  # margin
        r.read_float()  # distance threshold
        # The layers are nested outermost first: their versions come first, then the input
        # layer, then each layer's details from the input outwards.
        versions: list[int] = []
        while True:
            mark = r.pos
            version = r.read_int()
            after = r.pos
            if r.read_int() == len("input_rgb_image_sized"):  # the input layer's name follows
                r.pos = mark
                break
            r.pos = after
            versions.append(version)
        input_version = r.read_int()
        if r.read_str() != "input_rgb_image_sized":
            raise ModelFormatError("expected an RGB input layer")
        self.mean = np.array([r.read_float(), r.read_float(), r.read_float()], dtype=np.float32)
        if (r.read_int(), r.read_int()) != (self.CHIP_SIZE, self.CHIP_SIZE):
            raise ModelFormatError("expected a 150x150 input")
        layers: list[Layer | str] = [_read_details(r)]
        # The input add_layer keeps a gradient buffer, and from version 3 a sample factor.
        for _ in range(3):
            r.read_bool()
        for _ in range(3):
            r.read_tensor()
        if input_version >= 3:
            r.read_int()
        for v in reversed(versions):
            if v == 1:  # tag / skip
                layers.append("T")
            else:
                layers.append(_read_details(r))
                _skip_layer_state(r, v)
        if r.pos != len(r.data):
            raise ModelFormatError("trailing data after the network")
        kinds = [x if isinstance(x, str) else type(x).__name__ for x in layers]
        if kinds != _expected_kinds():
            raise ModelFormatError("the layers are not those of dlib's face recognition ResNet")
        self._build([x for x in layers if not isinstance(x, str)])

    def _build(self, layers: list[Layer]) -> None:
        it = iter(layers)

        def conv_affine() -> Conv:
            conv, affine = next(it), next(it)
            assert isinstance(conv, Conv) and isinstance(affine, Affine)
            # affine(conv(x)) = conv'(x) with the scale folded into weights and bias.
            conv.weight = np.ascontiguousarray(conv.weight * affine.gamma[None, :], dtype=np.float32)
            conv.bias = (conv.bias * affine.gamma + affine.beta).astype(np.float32)
            return conv

        self.stem = conv_affine()
        next(it)  # relu
        pool = next(it)
        assert isinstance(pool, Pool)
        self.stem_pool = pool
        self.blocks: list[_Block] = []
        for _, down, count in _LEVELS:
            for b in range(count):
                conv1 = conv_affine()
                next(it)  # relu
                conv2 = conv_affine()
                shortcut = next(it) if down and b == 0 else None
                assert shortcut is None or isinstance(shortcut, Pool)
                next(it)  # add_prev
                next(it)  # relu
                self.blocks.append(_Block(conv1, conv2, shortcut))
        next(it)  # average over the whole map
        dense = next(it)
        assert isinstance(dense, Dense)
        self.dense = dense.weight

    def __call__(self, chips: NDArray[np.uint8]) -> Array:
        """(n, 150, 150, 3) RGB uint8 chips -> (n, 128) descriptors."""
        if chips.ndim != 4 or chips.shape[1:] != (self.CHIP_SIZE, self.CHIP_SIZE, 3):
            raise ValueError("expected (n, 150, 150, 3) chips")
        if chips.shape[0] == 0:
            return np.zeros((0, self.dense.shape[1]), dtype=np.float32)
        x = (chips.astype(np.float32) - self.mean) / np.float32(256.0)
        x = np.maximum(_conv(x, self.stem), 0.0)
        x = _pool(x, self.stem_pool)
        for block in self.blocks:
            y = np.maximum(_conv(x, block.conv1), 0.0)
            y = _conv(y, block.conv2)
            shortcut = x if block.down is None else _pool(x, block.down)
            x = np.maximum(_add_padded(y, shortcut), 0.0)
        features = x.mean(axis=(1, 2), dtype=np.float32)
        return np.asarray(features @ self.dense, dtype=np.float32)


def _conv(x: Array, conv: Conv) -> Array:
    """NHWC convolution as one matrix product over im2col patches.

    The patches are a strided view of the (padded) input copied in one pass: each patch row is
    k runs of k·c contiguous floats. Copying them window offset by window offset instead moved
    runs of c floats, which for the 3-channel 7×7 stem made the copy cost more than its product.
    """
    n, h, w, c = x.shape
    k, s, p = conv.kernel, conv.stride, conv.padding
    if p:
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    sn, sh, sw, sc = x.strides
    patches = as_strided(x, (n, oh, ow, k, k, c), (sn, sh * s, sw * s, sh, sw, sc), writeable=False)
    out = patches.reshape(n * oh * ow, k * k * c) @ conv.weight
    out += conv.bias
    return out.reshape(n, oh, ow, -1)


def _pool(x: Array, pool: Pool) -> Array:
    h, w = x.shape[1:3]
    k, s = pool.size, pool.stride
    if pool.padding:
        raise ModelFormatError("padded pooling is not supported")
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    views = [x[:, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s, :] for i in range(k) for j in range(k)]
    if pool.kind == "max":
        return np.maximum.reduce(views)
    return np.add.reduce(views) / np.float32(k * k)


def _add_padded(a: Array, b: Array) -> Array:
    """dlib's add_prev: the sum over the larger shape, the smaller tensor zero-padded."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out
