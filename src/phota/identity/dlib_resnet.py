"""dlib's 128-d face ResNet, read from its ``.dat`` file and run with NumPy.

The ``dlib-bin`` wheel is built without BLAS, so its own convolution loops cost about
110 ms per face on this machine's CPUs. The weights are the same whichever program
multiplies them: this module reads dlib's serialisation of ``anet_type`` (the network in
dlib's ``dnn_face_recognition_ex.cpp``) and runs the forward pass as im2col + matrix
products on NumPy's bundled OpenBLAS, which releases the interpreter lock, so concurrent
callers run in parallel. Descriptors equal dlib's within 1e-6 (tested; ~3e-7 measured),
so stored embeddings and the calibrated thresholds carry over unchanged.

Speed is mostly that of the matrix products: about 1.6× the time the network's FLOPs would
take at the rate of one large matrix product for a chip alone, less per chip in a batch, more
when the machine's memory is busy (``bench/embedding.py`` measures it and times every layer).
What keeps the rest small:

- each affine layer (batch norm frozen at training time) is folded into the convolution
  before it when the file is loaded, and each bias rides in the product as a weight row
  that meets a column of ones in the patches;
- feature maps stay channels-last and live in zero-bordered buffers each thread keeps, so
  a convolution's padding costs nothing and its im2col copy moves whole window rows;
- a pass is planned once per thread and batch size: every view it reads and writes is made
  then, and a call only runs the plan's NumPy calls;
- ReLU, residual adds and pooling write in place or straight into the next layer's buffer;
- the 7×7 stride-2 stem runs on the input's four stride-2 phase planes, where each tap's
  inputs are one contiguous run, multiplies channels-first in cache-sized pieces, and applies
  bias and ReLU after its max pool.

The 256-filter layers of a chip alone (4×4 maps and smaller) wait on their weights: 2.4 MB
per layer read from memory for 16 patch rows or fewer. Batching chips shares that read.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

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
    # [weight; bias], set when the network is built: _conv's patches end in a column of ones,
    # so the product adds the bias (``weight`` is then a view of its first rows).
    with_bias: Array | None = None


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


# Chips per forward pass. Four already fill the late layers' products (a 4×4 map × 4 chips);
# more only grows each thread's buffers (7 MB for one chip, 14 MB for four).
MAX_BATCH = 4

# Output rows of the stem per product: three products of 24 rows (1 MB of patches each, read
# back from cache) measured ~8 % faster than one of all 71 rows; smaller pieces were slower.
_STEM_ROWS = 24

# In a batch, blocks on maps this large or larger (the first level's 35×35) run one chip at a
# time: four chips' patches (5.7 MB) no longer stay in cache between the copy that makes them
# and the product that reads them, which made those layers ~20 % slower per chip.
_PER_CHIP_SIDE = 32

# Levels with this many filters or more (maps of 4×4 and less) keep their weights column-major:
# a product with one patch row (a chip's 1×1 map) then reads them as OpenBLAS's fastest
# matrix-vector kernel does (2× faster than row-major), and larger products run as fast.
_COLUMN_MAJOR_FROM = 256


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


# Called after each step of a forward pass with the step's name and its multiply-adds × 2.
Probe = Callable[[str, int], None]

# One array operation of a plan, its operands bound: a partial of a NumPy function.
Op = Callable[[], object]


@dataclass
class _Step:
    name: str  # a layer, as the benchmark's per-layer table names it
    flops: int
    ops: list[Op]


@dataclass
class _Plan:
    """A whole forward pass for one batch size, as NumPy calls on views made once.

    Making the views (``as_strided`` alone costs ~6 µs a call, ~60 calls a chip) and looking
    up buffers on every pass cost a few tenths of a millisecond per chip; a plan does it once
    per thread and batch size, and a pass is then only its calls.
    """

    chips: NDArray[np.uint8]  # the input buffer the first step reads
    steps: list[_Step]
    out: Array  # (n, 128), overwritten by every pass


class _Workspace:
    """One thread's buffers and the plans that use them, reused from call to call.

    Padded feature maps are allocated zeroed and only their interiors are ever written, so
    convolutions read their padding without an ``np.pad`` copy per layer. Each buffer is the
    prefix of one flat array that only grows: batch-major shapes of fewer chips keep their
    padding where it was. A buffer that grows is a new, larger array: ``grew`` tells the
    planner that plans made before use arrays no longer needed.
    """

    def __init__(self) -> None:
        self._flat: dict[str, NDArray[np.generic]] = {}
        self.plans: dict[int, _Plan] = {}
        self.grew = False

    def get(self, name: str, shape: tuple[int, ...], dtype: type[np.generic] = np.float32) -> NDArray[Any]:
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.size < size:
            flat = np.zeros(size, dtype=dtype)
            self._flat[name] = flat
            self.grew = True
        return flat[:size].reshape(shape)


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
        self._local = threading.local()

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
        st = self.stem
        if (st.kernel, st.stride, st.padding, st.weight.shape[0]) != (7, 2, 0, 7 * 7 * 3) or pool.kind != "max":
            raise ModelFormatError("expected a 7x7 stride-2 unpadded stem and a max pool")
        # The stem runs channels-first on the input's four stride-2 phase planes (see _stem): its
        # weights as (c_out, c_in·kh·kw), with the input's 1/256 scale folded in (a power of two,
        # so the products are bit-identical to scaling the input).
        w = st.weight.reshape(7, 7, 3, -1).transpose(3, 2, 0, 1).reshape(-1, 7 * 7 * 3)
        self._stem_weight_t = np.ascontiguousarray(w / np.float32(256.0), dtype=np.float32)
        self.blocks: list[_Block] = []
        for filters, down, count in _LEVELS:
            for b in range(count):
                conv1 = conv_affine()
                next(it)  # relu
                conv2 = conv_affine()
                shortcut = next(it) if down and b == 0 else None
                assert shortcut is None or isinstance(shortcut, Pool)
                next(it)  # add_prev
                next(it)  # relu
                if (
                    conv2.stride != 1
                    or conv2.padding != conv2.kernel // 2
                    or conv1.padding not in (0, conv1.kernel // 2)
                ):
                    raise ModelFormatError("unexpected convolution geometry in a residual block")
                if shortcut is not None and (shortcut.kind != "avg" or shortcut.padding):
                    raise ModelFormatError("expected an unpadded average pool on the shortcut")
                for conv in (conv1, conv2):
                    with_bias = np.vstack([conv.weight, conv.bias[None, :]])
                    if filters >= _COLUMN_MAJOR_FROM:
                        with_bias = np.asfortranarray(with_bias)
                    conv.with_bias = with_bias
                    conv.weight = with_bias[:-1]
                self.blocks.append(_Block(conv1, conv2, shortcut))
        next(it)  # average over the whole map
        dense = next(it)
        assert isinstance(dense, Dense)
        self.dense = dense.weight

    def __call__(self, chips: NDArray[np.uint8], probe: Probe | None = None) -> Array:
        """(n, 150, 150, 3) RGB uint8 chips -> (n, 128) descriptors.

        Reentrant: each thread has its own buffers. ``probe``, if given, is called after every
        step with its name and FLOPs (the benchmark's per-layer table).
        """
        if chips.ndim != 4 or chips.shape[1:] != (self.CHIP_SIZE, self.CHIP_SIZE, 3):
            raise ValueError("expected (n, 150, 150, 3) chips")
        if chips.shape[0] == 0:
            return np.zeros((0, self.dense.shape[1]), dtype=np.float32)
        ws = getattr(self._local, "workspace", None)
        if ws is None:
            ws = self._local.workspace = _Workspace()
        parts = [self._forward(chips[i : i + MAX_BATCH], ws, probe) for i in range(0, chips.shape[0], MAX_BATCH)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _forward(self, chips: NDArray[np.uint8], ws: _Workspace, probe: Probe | None) -> Array:
        plan = ws.plans.get(chips.shape[0])
        if plan is None:
            plan = self._plan(chips.shape[0], ws)
        np.copyto(plan.chips, chips)
        for step in plan.steps:
            for op in step.ops:
                op()
            if probe:
                probe(step.name, step.flops)
        return plan.out.copy()

    def _plan(self, n: int, ws: _Workspace) -> _Plan:
        """Plans a pass of ``n`` chips on the workspace's buffers, growing them as needed.

        Data flows from step to step through the views the steps share, never through a
        buffer's name, so a buffer that grows while planning only leaves earlier views on the
        old (still valid) array. Plans for other batch sizes that hold replaced arrays are
        dropped, so that a thread keeps the buffers of its largest batch only.
        """
        ws.grew = False
        chips = ws.get("chips", (n, self.CHIP_SIZE, self.CHIP_SIZE, 3), np.uint8)
        step, x, side = self._stem(chips, ws)
        steps = [step]
        blocks = list(self.blocks)
        if n > 1:
            # The first level's maps, one chip at a time: see _PER_CHIP_SIDE.
            lead = 0
            while lead < len(blocks) and blocks[lead].down is None and side >= _PER_CHIP_SIDE:
                lead += 1
            for i in range(n):
                for block in blocks[:lead]:
                    steps += self._block(block, x[i : i + 1], side, ws)[0]  # in place: x[i] is the output
            blocks = blocks[lead:]
        for block in blocks:
            block_steps, x, side = self._block(block, x, side, ws)
            steps += block_steps
        features = ws.get("features", (n, x.shape[3]))
        out = ws.get("descriptors", (n, self.dense.shape[1]))
        # The average's division rides in the dense weights (side² is 4: exact in float32).
        dense = self.dense / np.float32(side * side)
        ops: list[Op] = [
            partial(np.add.reduce, x[:, 1 : side + 1, 1 : side + 1], axis=(1, 2), out=features),
            partial(np.matmul, features, dense, out=out),
        ]
        steps.append(_Step("average + dense 256→128", 2 * n * self.dense.size, ops))
        if ws.grew:
            ws.plans.clear()
        plan = ws.plans[n] = _Plan(chips, steps, out)
        return plan

    def _stem(self, chips: NDArray[np.uint8], ws: _Workspace) -> tuple[_Step, Array, int]:
        """7×7 stride-2 convolution, ReLU and 3×3 max pool, into the first padded feature map.

        A stride-2 convolution reads each of the input's four phase planes (even/odd rows ×
        even/odd columns, 75×75) with a stride-1 kernel of at most 4×4. Computed over a grid 75
        wide (junk columns at the end of each row), every tap's input row is then one contiguous
        run of a plane, so the im2col matrix is 147 plain copies instead of 36,000 runs of 21
        floats. The product runs channels-first, (32 × 147) · (147 × grid): both operands as
        stored, the layout OpenBLAS is fastest at for this shape. Only the 71 of the 72 output
        rows that the max pool reads are computed. The pool reads whole rows first, then strided
        columns of a third as many values; bias and ReLU are applied after it, on a quarter of
        the values: both are monotonic, so the result is the same bit for bit.
        """
        n = chips.shape[0]
        half = self.CHIP_SIZE // 2  # 75: a phase plane's side
        out_side = (self.CHIP_SIZE - 7) // 2 + 1  # 72
        pool = self.stem_pool
        side = (out_side - pool.size) // pool.stride + 1  # 35
        s, k, last = pool.stride, pool.size, pool.stride * (side - 1) + 1
        rows = last + k - 1  # 71: the rows the pool reads
        grid = rows * half  # outputs computed per chip, junk columns included
        c_out = self._stem_weight_t.shape[0]
        x = ws.get(f"x{side}_{c_out}", (n, side + 2, side + 2, c_out))
        # Plane slack: the last taps' runs overrun the plane by up to 3 junk values.
        planes = ws.get("stem_planes", (3, 2, 2, half * half + 8))
        chunk = _STEM_ROWS * half  # outputs per product
        cols_buffer = ws.get("stem_cols", (7 * 7 * 3, chunk))
        conv = ws.get("stem_out", (c_out, grid))
        row_max = ws.get("stem_pool_rows", (c_out, side, half))
        pooled = ws.get("stem_pool", (c_out, side, side))
        f = planes.itemsize
        phase = planes[..., : half * half].reshape(3, 2, 2, half, half)
        products: list[Op] = []
        for start in range(0, grid, chunk):
            size = min(chunk, grid - start)
            cols = cols_buffer[:, :size]
            for a in range(2):
                for b in range(2):
                    # Taps (kh, kw) = (2p + a, 2q + b) of each channel c: rows c·49 + 7·kh + kw of cols.
                    nk, nq = 4 - a, 4 - b
                    plane = planes[0, a, b, start:]
                    shape = (3, nk, nq, size)
                    src = as_strided(plane, shape, (planes.strides[0], half * f, f, f), writeable=False)
                    row = cols_buffer[7 * a + b :].reshape(-1)
                    dst = as_strided(row, shape, (49 * chunk * f, 14 * chunk * f, 2 * chunk * f, f))
                    products.append(partial(np.copyto, dst, src))
            products.append(partial(np.matmul, self._stem_weight_t, cols, out=conv[:, start : start + size]))
        grid_map = conv.reshape(c_out, rows, half)
        mean = self.mean.reshape(3, 1, 1, 1, 1)
        bias = self.stem.bias.reshape(c_out, 1, 1)
        ops: list[Op] = []
        for i in range(n):
            # planes[c, a, b] = chip[a::2, b::2, c] - mean[c], as one ufunc call per chip.
            ops.append(
                partial(np.subtract, chips[i].reshape(half, 2, half, 2, 3).transpose(4, 1, 3, 0, 2), mean, out=phase)
            )
            ops += products
            # The max pool separably: over each window's rows, then over its columns.
            ops.append(partial(np.maximum, grid_map[:, 0:last:s], grid_map[:, 1 : last + 1 : s], out=row_max))
            ops += [partial(np.maximum, row_max, grid_map[:, p : p + last : s], out=row_max) for p in range(2, k)]
            ops.append(partial(np.maximum, row_max[..., 0:last:s], row_max[..., 1 : last + 1 : s], out=pooled))
            ops += [partial(np.maximum, pooled, row_max[..., q : q + last : s], out=pooled) for q in range(2, k)]
            ops.append(partial(np.add, pooled, bias, out=pooled))
            ops.append(partial(np.maximum, pooled, np.float32(0.0), out=pooled))
            # To channels-last: a plain copy transposes 2.5× faster than a ufunc writing through it.
            ops.append(partial(np.copyto, x[i, 1:-1, 1:-1], pooled.transpose(1, 2, 0)))
        st = self.stem
        step = _Step("stem 7×7/2 conv 3→32, ReLU, 3×3/2 max pool", 2 * n * out_side**2 * st.weight.size, ops)
        return step, x, side

    def _block(self, block: _Block, xp: Array, side: int, ws: _Workspace) -> tuple[list[_Step], Array, int]:
        """One residual block on the padded map ``xp``: its steps, the padded output map and its side."""
        n, c_in = xp.shape[0], xp.shape[3]
        c1, c2 = block.conv1, block.conv2
        c_out = c1.weight.shape[1]
        src = xp if c1.padding else xp[:, 1:-1, 1:-1]
        mid = (src.shape[1] - c1.kernel) // c1.stride + 1
        yp = ws.get(f"y{mid}_{c_out}", (n, mid + 2, mid + 2, c_out))
        out = ws.get("out", (n * mid * mid, c_out))  # free again once the block has added it
        ops: list[Op] = []
        out4 = _conv(src, c1, mid, out, ws, ops).reshape(n, mid, mid, c_out)
        ops.append(partial(np.maximum, out4, np.float32(0.0), out=yp[:, 1:-1, 1:-1]))
        steps = [_Step(_conv_name(c1, c_in, side, mid), _conv_flops(c1, n, mid), ops)]
        ops = []
        out4 = _conv(yp, c2, mid, out, ws, ops).reshape(n, mid, mid, c_out)
        if block.down is None:
            x = xp[:, 1:-1, 1:-1]
            ops.append(partial(np.add, out4, x, out=out4))
            ops.append(partial(np.maximum, out4, np.float32(0.0), out=x))  # the output replaces the input
            steps.append(_Step(_conv_name(c2, c_out, mid, mid) + " + add + ReLU", _conv_flops(c2, n, mid), ops))
            return steps, xp, side
        # dlib's add_prev sums tensors of different shapes over the larger one, zero-padding
        # the smaller: the pooled shortcut has fewer channels, and may be a row and column larger.
        pool = block.down
        k, s = pool.size, pool.stride
        ps = (side - k) // s + 1
        last = s * (ps - 1) + 1
        x = xp[:, 1:-1, 1:-1]
        views = [x[:, p : p + last : s, q : q + last : s] for p in range(k) for q in range(k)]
        pooled = ws.get(f"pool{ps}_{c_in}", (n, ps, ps, c_in))
        ops.append(partial(np.add, views[0], views[1], out=pooled))
        ops += [partial(np.add, pooled, v, out=pooled) for v in views[2:]]
        ops.append(partial(np.multiply, pooled, np.float32(1.0 / (k * k)), out=pooled))
        new = max(mid, ps)
        xn = ws.get(f"x{new}_{c_out}", (n, new + 2, new + 2, c_out))
        y = xn[:, 1:-1, 1:-1]
        if new == mid == ps:
            ops.append(partial(np.add, out4[..., :c_in], pooled, out=y[..., :c_in]))
            ops.append(partial(np.copyto, y[..., c_in:], out4[..., c_in:]))
        else:
            ops.append(partial(np.copyto, y, np.float32(0.0)))
            ops.append(partial(np.copyto, y[:, :mid, :mid], out4))
            corner = y[:, :ps, :ps, :c_in]
            ops.append(partial(np.add, corner, pooled, out=corner))
        ops.append(partial(np.maximum, y, np.float32(0.0), out=y))
        name = _conv_name(c2, c_out, mid, mid) + f" + {k}×{k}/{s} avg-pool shortcut + add + ReLU"
        steps.append(_Step(name, _conv_flops(c2, n, mid), ops))
        return steps, xn, new


def _conv_name(conv: Conv, c_in: int, side_in: int, side_out: int) -> str:
    stride = f"/{conv.stride}" if conv.stride != 1 else ""
    c_out = conv.weight.shape[1]
    return f"{conv.kernel}×{conv.kernel}{stride} conv {c_in}→{c_out}, {side_in}²→{side_out}²"


def _conv_flops(conv: Conv, n: int, side: int) -> int:
    """Multiply-adds × 2 the convolution needs (a padded 1×1 map meets only the centre tap)."""
    k_in, c_out = conv.weight.shape
    if side == 1 and conv.stride == 1:
        k_in //= conv.kernel * conv.kernel
    return 2 * n * side * side * k_in * c_out


def _conv(src: Array, conv: Conv, side: int, out: Array, ws: _Workspace, ops: list[Op]) -> Array:
    """Appends to ``ops`` an NHWC convolution of ``src`` (padding included) as one matrix product.

    The im2col copy moves runs of kernel·channels contiguous floats (a window row): the
    channels-last layout makes them long, and fewer, as the maps shrink and the channels grow.
    The result lands in ``out``, (n·side², c_out), which is returned.
    """
    n, _, _, c = src.shape
    k, s = conv.kernel, conv.stride
    if side == 1 and s == 1 and src.shape[1] == k == 3:
        # A 3×3 convolution of a zero-padded 1×1 map: only the centre tap meets data.
        ops.append(partial(np.matmul, src[:, 1, 1, :], conv.weight[4 * c : 5 * c], out=out))
        ops.append(partial(np.add, out, conv.bias, out=out))
        return out
    sn, sh, sw, sc = src.strides
    assert sw == c * sc and conv.with_bias is not None  # a window row is contiguous
    kc = k * k * c
    # One patch buffer per shape, shared by the layers of that shape (they run one after
    # another); its last column, set here once, multiplies the bias row.
    cols = ws.get(f"cols{side}_{kc}", (n * side * side, kc + 1))
    cols[:, kc] = 1.0
    row = cols.strides[0]
    patches = as_strided(cols, (n, side, side, k, k * c), (side * side * row, side * row, row, k * c * sc, sc))
    view = as_strided(src, (n, side, side, k, k * c), (sn, sh * s, sw * s, sh, sc), writeable=False)
    ops.append(partial(np.copyto, patches, view))
    ops.append(partial(np.matmul, cols, conv.with_bias, out=out))
    return out
