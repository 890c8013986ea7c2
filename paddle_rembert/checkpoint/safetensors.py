"""A small safetensors reader and streaming writer built on numpy alone (no torch).

Why not the ``safetensors`` package: its numpy backend cannot hold bfloat16, it loads a whole
file per call to ``save_file``, and a truncated file surfaces as an opaque Rust error. Here:

* bfloat16 travels as its raw ``uint16`` bits (Paddle's own numpy form of bfloat16);
* tensors are read one at a time, optionally transposed and cast block by block, so converting
  never holds more than the tensor being produced;
* the writer streams tensors to disk in a single pass;
* a damaged or truncated file is reported with the file name and the first tensor it cuts.
"""
import json
import os
import struct

import numpy as np

from ..runtime.errors import PaddleRembertError

# safetensors dtype name -> numpy dtype (bfloat16 as uint16 bits)
ST_TO_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}
FLOAT_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}
ST_FLOAT_NAMES = {v: k for k, v in FLOAT_NAMES.items()}  # "F32" -> "float32", as config.json's torch_dtype says
# paddle dtype -> safetensors dtype name (a bfloat16 tensor's .numpy() gives its uint16 bits)
PADDLE_TO_ST = {"paddle.float32": "F32", "paddle.float16": "F16", "paddle.bfloat16": "BF16", "paddle.float64": "F64",
                "paddle.int64": "I64", "paddle.int32": "I32", "paddle.int16": "I16", "paddle.int8": "I8",
                "paddle.uint8": "U8", "paddle.bool": "BOOL"}
_MAX_HEADER = 100_000_000  # the safetensors library's MAX_HEADER_SIZE
_BLOCK_BYTES = 64 * 1024 * 1024  # transposes and casts run in blocks of about this size


# -- dtype helpers -----------------------------------------------------------------------------
def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """Round-to-nearest-even, as ``torch.Tensor.to(torch.bfloat16)`` does."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded[nan] = 0x7FC0
    return rounded


def cast(block, src, dst):
    """Cast between safetensors float dtype names (``F32``/``F16``/``BF16``); others pass through."""
    if dst is None or src == dst or src not in ("F32", "F16", "BF16", "F64"):
        return block
    f32 = bf16_bits_to_f32(block) if src == "BF16" else block.astype(np.float32, copy=False)
    if dst == "BF16":
        return f32_to_bf16_bits(f32)
    return f32.astype(ST_TO_NP[dst], copy=False)


# -- reading -----------------------------------------------------------------------------------
_U64 = 2 ** 64  # Rust's usize: shapes, offsets and byte counts must fit in it, products included
# Element sizes of every safetensors dtype: a file may hold tensors we never read (and still be valid).
_ITEM_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


def _is_size(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _U64


def _check_entry(path, key, entry):
    """One header entry has the types safetensors' ``TensorInfo`` requires."""
    if not isinstance(entry, dict):
        raise PaddleRembertError(f"{path}: header entry {key!r} is a {type(entry).__name__}, not a tensor description")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in entry:
            raise PaddleRembertError(f"{path}: tensor {key!r} has no {field!r} in the header")
    if not isinstance(entry["dtype"], str) or entry["dtype"] not in _ITEM_SIZES:
        raise PaddleRembertError(f"{path}: tensor {key!r} has unsupported dtype {entry['dtype']!r}")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not isinstance(shape, list) or not all(_is_size(d) for d in shape):
        raise PaddleRembertError(f"{path}: tensor {key!r} has shape {shape!r}; a list of non-negative integers needed")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_size(o) for o in offsets)):
        raise PaddleRembertError(
            f"{path}: tensor {key!r} has data_offsets {offsets!r}; two non-negative integers [begin, end] needed")


def _nbytes(path, key, entry):
    """Bytes the shape and dtype need; refuses sizes that overflow 64 bits (Rust's ValidationOverflow)."""
    n = 1
    for factor in (*entry["shape"], _ITEM_SIZES[entry["dtype"]]):  # checked at each step, as Rust's checked_mul
        n *= factor
        if n >= _U64:
            raise PaddleRembertError(f"{path}: tensor {key!r} has shape {entry['shape']}, whose size overflows 64 bits")
    return n


class SafetensorsFile:
    """Header of one ``.safetensors`` file; tensors are read on demand with :meth:`read`.

    The header is validated as the ``safetensors`` library validates it (its Rust ``read_metadata``
    and ``Metadata::validate``), so a file it refuses is refused here too, with the key named.
    """

    def __init__(self, path):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise PaddleRembertError(f"{path} is truncated: {size} bytes, not even a safetensors header")
            (n,) = struct.unpack("<Q", raw)
            if n > min(_MAX_HEADER, size - 8):
                raise PaddleRembertError(f"{path} is truncated or not a safetensors file (header of {n} bytes)")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
                raise PaddleRembertError(f"{path} has a corrupt safetensors header: {e}") from None
        if not isinstance(header, dict):
            raise PaddleRembertError(f"{path} has a corrupt safetensors header: a JSON {type(header).__name__}, "
                                     "not an object")
        metadata = header.pop("__metadata__", None)
        if metadata is not None and not (isinstance(metadata, dict)
                                         and all(isinstance(v, str) for v in metadata.values())):
            raise PaddleRembertError(f"{path}: safetensors __metadata__ must map strings to strings")
        self.metadata = metadata or {}
        self.data_start = 8 + n
        self.entries = header
        for key, entry in header.items():
            _check_entry(path, key, entry)
        # Rust's Metadata::validate: sorted by offsets, tensors tile the data section from byte 0 without
        # gaps or overlaps, each one exactly as long as its shape and dtype say, the last one ending the file.
        end = 0
        for key, entry in sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"])):
            begin, stop = entry["data_offsets"]
            if begin != end or stop < begin:
                where = "overlaps the previous tensor" if begin < end else (
                    f"leaves a gap after byte {end}" if begin > end else "ends before it begins")
                raise PaddleRembertError(f"{path}: tensor {key!r} has invalid data_offsets {[begin, stop]}: it {where}")
            nbytes = _nbytes(path, key, entry)
            if stop - begin != nbytes:
                raise PaddleRembertError(
                    f"{path}: tensor {key!r} has {stop - begin} bytes, its shape {entry['shape']} and dtype "
                    f"{entry['dtype']} need {nbytes}")
            end = stop
        if self.data_start + end > size:
            cut = min((k for k in header if self.data_start + header[k]["data_offsets"][1] > size),
                      key=lambda k: header[k]["data_offsets"])
            raise PaddleRembertError(f"{path} is truncated: tensor {cut!r} ends at byte "
                                     f"{self.data_start + header[cut]['data_offsets'][1]}, the file has {size} bytes")
        if self.data_start + end != size:
            raise PaddleRembertError(
                f"{path}: the tensors cover {end} bytes of data but the file holds {size - self.data_start} "
                "after the header (trailing bytes, or not a safetensors file)")

    def keys(self):
        return list(self.entries)

    def shape(self, key):
        return tuple(self.entries[key]["shape"])

    def dtype(self, key):
        return self.entries[key]["dtype"]

    def read(self, key, transpose=False, dtype=None):
        """The tensor as a fresh numpy array; a 2-D ``transpose`` and a cast happen block by block."""
        entry = self.entries[key]
        src = entry["dtype"]
        if src not in ST_TO_NP:
            raise PaddleRembertError(f"{self.path}: tensor {key!r} has dtype {src}, which cannot be read here")
        np_dtype = np.dtype(ST_TO_NP[src])
        shape = tuple(entry["shape"])
        offset = self.data_start + entry["data_offsets"][0]
        out_np = np.dtype(ST_TO_NP[dtype]) if dtype and src in ("F32", "F16", "BF16", "F64") else np_dtype
        if transpose and len(shape) != 2:
            raise PaddleRembertError(f"{self.path}: cannot transpose {key!r} of shape {list(shape)}")
        rows = shape[0] if shape else 1
        row_items = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        out = np.empty(shape[::-1] if transpose else shape, dtype=out_np)
        flat = out.reshape(-1) if not transpose else None
        step = max(1, _BLOCK_BYTES // max(1, row_items * np_dtype.itemsize))
        with open(self.path, "rb") as f:
            for r0 in range(0, rows, step):
                r1 = min(rows, r0 + step)
                f.seek(offset + r0 * row_items * np_dtype.itemsize)
                block = np.fromfile(f, dtype=np_dtype, count=(r1 - r0) * row_items)
                block = cast(block, src, dtype)
                if transpose:
                    out[:, r0:r1] = block.reshape(r1 - r0, row_items).T
                else:
                    flat[r0 * row_items:r1 * row_items] = block
        return out


# -- writing -----------------------------------------------------------------------------------
def spec_nbytes(st_dtype, shape):
    """Bytes of a tensor of safetensors dtype ``st_dtype`` and ``shape``."""
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(ST_TO_NP[st_dtype]).itemsize


def write_safetensors(f, specs, produce, metadata=None):
    """Stream tensors into the binary file ``f`` (callers open it with ``io_utils.atomic_open``).

    ``specs`` lists ``(key, st_dtype, shape)`` in file order; ``produce(key)`` returns each array
    when its turn comes, so only one tensor is in memory at a time.
    """
    header, offset = {}, 0
    for key, st_dtype, shape in specs:
        nbytes = spec_nbytes(st_dtype, shape)
        header[key] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    f.write(struct.pack("<Q", len(raw)))
    f.write(raw)
    for key, st_dtype, shape in specs:
        arr = np.ascontiguousarray(produce(key))
        if tuple(arr.shape) != tuple(shape) or arr.dtype != np.dtype(ST_TO_NP[st_dtype]):
            raise AssertionError(f"{key}: produced {arr.dtype}{list(arr.shape)}, planned {st_dtype}{list(shape)}")
        f.write(memoryview(arr.reshape(-1)).cast("B"))


def numpy_to_st_dtype(arr, is_bf16=False):
    if is_bf16 or arr.dtype == np.uint16:
        return "BF16"
    for name, np_dtype in ST_TO_NP.items():
        if arr.dtype == np.dtype(np_dtype) and name != "BF16":
            return name
    raise PaddleRembertError(f"cannot store numpy dtype {arr.dtype} in safetensors")


def paddle_to_st_dtype(tensor):
    name = PADDLE_TO_ST.get(str(tensor.dtype))
    if name is None:
        raise PaddleRembertError(f"cannot store a {tensor.dtype} tensor in safetensors")
    return name
