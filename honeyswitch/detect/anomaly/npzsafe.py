"""Read an ``.npz`` archive that may be hostile, without pickle and without trusting sizes.

``numpy.load`` allocates whatever shape an ``.npy`` header declares before reading the
data, so a 200-byte file can ask for terabytes.  Here every member is read through
``zipfile`` with a hard byte limit (which also defuses zip bombs: we never decompress more
than the limit), its header is parsed with numpy's literal-only header reader, the dtype
must be one of a few plain numeric types, and the declared shape must match the bytes
actually present.  Any problem is a ``ValueError`` naming the member.
"""
from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

MAX_MEMBERS = 64
MAX_MEMBER_BYTES = 32 << 20
MAX_TOTAL_BYTES = 96 << 20
MAX_NDIM = 2
ALLOWED_DTYPES = {np.dtype("<i8"), np.dtype("<f8"), np.dtype("|u1"), np.dtype("|b1")}


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of the archive at ``path``, validated; ValueError if anything is off."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_members(zf)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path}: not a model file (not a valid zip/npz archive: {exc})") from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ValueError(f"{path}: damaged model archive: {exc}") from None


def _read_members(zf: zipfile.ZipFile) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"model archive has {len(infos)} members (max {MAX_MEMBERS})")
    out: dict[str, np.ndarray] = {}
    total = 0
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in out:
            raise ValueError(f"unexpected or duplicate member {name!r} in model archive")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"member {name!r} is too large ({info.file_size} bytes)")
        with zf.open(info) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
        total += len(data)
        if len(data) > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
            raise ValueError(f"member {name!r} is too large")
        out[name[:-4]] = parse_npy(data, name)
    return out


def parse_npy(data: bytes, name: str = "array") -> np.ndarray:
    """One ``.npy`` payload to an array, checking dtype, shape and length."""
    bio = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(bio)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(bio)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(bio)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, TypeError, KeyError) as exc:
        raise ValueError(f"member {name!r}: bad .npy header: {exc}") from None
    if dtype not in ALLOWED_DTYPES or dtype.hasobject:
        raise ValueError(f"member {name!r}: dtype {dtype} not allowed")
    if len(shape) > MAX_NDIM or any(not isinstance(d, int) or d < 0 for d in shape):
        raise ValueError(f"member {name!r}: bad shape {shape}")
    count = 1
    for d in shape:
        count *= d
    offset = bio.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ValueError(f"member {name!r}: shape {shape} does not match its {len(data) - offset} data bytes")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C").copy()
