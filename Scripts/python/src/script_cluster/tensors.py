"""Tensors to and from the wire: numpy arrays and torch tensors of f32, f16 or bf16 are sent in their
own dtype as their own bytes (no copy when they are little-endian and C-contiguous on the CPU);
results come back as the input's kind, dtype and device."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from .errors import BadReply, BadShape, BadTensor

#: Bytes per element of each wire dtype.
ITEMSIZE = {"f32": 4, "f16": 2, "bf16": 2}


def _torch() -> Any:
    """torch if it is already imported (a torch tensor cannot exist otherwise), else None."""
    return sys.modules.get("torch")


def is_torch_tensor(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


@dataclass
class Origin:
    """What a tensor came as, to give results back the same way."""

    kind: str  # "numpy" or "torch"
    wire_dtype: str  # f32, f16 or bf16
    numpy_dtype: Optional[np.dtype] = None
    torch_dtype: Any = None
    device: Any = None  # a torch.device for torch inputs


@dataclass
class WireTensor:
    """A tensor as it goes on the wire: its dtype name, its 2-D shape, its bytes (a flat uint8 array
    over the input's memory where no copy was needed)."""

    dtype: str
    shape: Tuple[int, int]
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def rows(self, start: int, end: int) -> np.ndarray:
        """The bytes of rows `start..<end` (a view, no copy)."""
        row = int(self.shape[1]) * ITEMSIZE[self.dtype]
        return self.data[start * row:end * row]

    def descriptor(self, frame: int) -> dict:
        return {"dtype": self.dtype, "shape": [int(self.shape[0]), int(self.shape[1])], "frame": frame}


def _numpy_wire_dtype(dt: np.dtype) -> Optional[str]:
    if dt.kind == "f" and dt.itemsize == 4:
        return "f32"
    if dt.kind == "f" and dt.itemsize == 2:
        return "f16"
    if dt.name == "bfloat16":  # ml_dtypes (also what jax and tensorflow use)
        return "bf16"
    return None


def to_wire(x: Any, name: str, *, allow_3d: bool) -> Tuple[WireTensor, Optional[Tuple[int, int]], Origin]:
    """`x` (numpy array, torch tensor, or anything numpy takes) as a 2-D wire tensor.

    Returns the tensor, `(units, tokens)` when `x` was 3-D (flattened to units*tokens rows), and
    where it came from. float64 is sent as f32, the widest dtype the protocol carries; any other
    dtype is a `BadTensor`."""
    if is_torch_tensor(x):
        return _torch_to_wire(x, name, allow_3d)
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise BadTensor(f"{name} is not an array: {e}") from None
    wire = _numpy_wire_dtype(x.dtype)
    if wire is None:
        if x.dtype == np.float64:
            x = x.astype(np.float32)
            wire = "f32"
        else:
            raise BadTensor(f"{name} has dtype {x.dtype}; send float32, float16 or bfloat16 (float64 is sent as float32)")
    origin = Origin("numpy", wire, numpy_dtype=x.dtype)
    x, units = _flatten(x, x.shape, name, allow_3d)
    if x.dtype.byteorder == ">":
        x = x.astype(x.dtype.newbyteorder("<"))
    x = np.ascontiguousarray(x)
    return WireTensor(wire, (x.shape[0], x.shape[1]), x.reshape(-1).view(np.uint8)), units, origin


def _flatten(x: Any, shape: Any, name: str, allow_3d: bool) -> Tuple[Any, Optional[Tuple[int, int]]]:
    if len(shape) == 2:
        return x, None
    if len(shape) == 3 and allow_3d:
        return x.reshape(shape[0] * shape[1], shape[2]), (int(shape[0]), int(shape[1]))
    dims = "2-D (tokens x width) or 3-D (units x tokens x width)" if allow_3d else "2-D (tokens x width)"
    raise BadTensor(f"{name} has shape {tuple(shape)}; it must be {dims}")


def _torch_to_wire(x: Any, name: str, allow_3d: bool) -> Tuple[WireTensor, Optional[Tuple[int, int]], Origin]:
    torch = _torch()
    names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
    device = x.device
    x = x.detach()
    if x.dtype == torch.float64:
        x = x.to(torch.float32)
    wire = names.get(x.dtype)
    if wire is None:
        raise BadTensor(f"{name} has dtype {x.dtype}; send torch.float32, torch.float16 or torch.bfloat16")
    origin = Origin("torch", wire, torch_dtype=x.dtype, device=device)
    x, units = _flatten(x, tuple(x.shape), name, allow_3d)
    if device.type != "cpu":
        # One copy to host memory (contiguous first, on the device, where it is not).
        x = x.contiguous().to("cpu")
    elif not x.is_contiguous():
        x = x.contiguous()
    # The tensor's own bytes: a uint8 view of its storage (bf16 has no numpy dtype; bytes do).
    data = x.reshape(-1).view(torch.uint8).numpy()
    return WireTensor(wire, (int(x.shape[0]), int(x.shape[1])), data), units, origin


def decode_frame(desc: Any, frames: list, field: str) -> np.ndarray:
    """A tensor of a reply, as float32: descriptor `desc` over `frames` (0 is the envelope)."""
    if not isinstance(desc, dict) or set(desc) != {"dtype", "shape", "frame"}:
        raise BadReply(f"reply field '{field}' is not a tensor descriptor: {desc!r}")
    dtype, shape, index = desc["dtype"], desc["shape"], desc["frame"]
    if dtype not in ITEMSIZE or not isinstance(shape, list) or len(shape) != 2 \
            or not all(isinstance(s, int) and s >= 0 for s in shape) or not isinstance(index, int):
        raise BadReply(f"reply field '{field}' has a bad descriptor: {desc!r}")
    if not 1 <= index < len(frames):
        raise BadReply(f"reply field '{field}' names frame {index}, the reply has {len(frames) - 1} tensor frames")
    buf = frames[index].buffer if hasattr(frames[index], "buffer") else memoryview(frames[index])
    need = shape[0] * shape[1] * ITEMSIZE[dtype]
    if len(buf) != need:
        raise BadReply(f"reply field '{field}': frame {index} holds {len(buf)} bytes, shape {shape} of {dtype} needs {need}")
    if dtype == "f32":
        return np.frombuffer(buf, dtype="<f4").reshape(shape)
    if dtype == "f16":
        return np.frombuffer(buf, dtype="<f2").astype(np.float32).reshape(shape)
    bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
    return bits.view(np.float32).reshape(shape)


def features_like(values: np.ndarray, origin: Origin) -> Any:
    """Float32 result rows in the dtype (and for torch, on the device) the features came in. Kept
    rows (`return_="features"`) round-trip exactly: they are the input's own values."""
    if origin.kind == "torch":
        torch = _torch()
        t = torch.from_numpy(values)
        return t.to(device=origin.device, dtype=origin.torch_dtype)
    assert origin.numpy_dtype is not None
    return values.astype(origin.numpy_dtype) if values.dtype != origin.numpy_dtype else values


def indices_like(indices: list, origin: Origin) -> Any:
    """Kept indices as an int64 array, or for a torch input a long tensor on its device."""
    if origin.kind == "torch":
        torch = _torch()
        return torch.tensor(indices, dtype=torch.long, device=origin.device)
    return np.asarray(indices, dtype=np.int64)


def check_rows(features: WireTensor, embeddings: Optional[WireTensor]) -> None:
    """Client-side shape checks that need no pass over the data (the coordinator repeats them)."""
    if embeddings is not None and embeddings.shape[0] != features.shape[0]:
        raise BadShape(f"embeddings has {embeddings.shape[0]} rows, features has {features.shape[0]}")
