"""Stored vectors: memory-mapped from their files, and the sentence vectors kept in int8.

An index holds a vector for every passage and every sentence (about six per passage). At 1M
passages that is 1.5 GB of passage vectors and 9 GB of sentence vectors in float32, more than the
service's memory budget. Both are memory-mapped instead of read: the page cache holds what the
questions touch (a few hundred rows each), and the kernel may drop it under memory pressure and
read it again. The sentence vectors are also stored as int8 with one float32 scale per row
(a quarter of the size): each row is scaled so that its largest component is 127. Cosines move
in the fourth decimal; what that does to the answers is in
docs/decisions/013-memory-at-1m-passages.md.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np


def map_npy(path: Path) -> np.ndarray:
    """A read-only view of a .npy file mapped into memory.

    Pages are read on first use, not at load: at 1M passages the files are several GB, and a
    question touches a few hundred rows. The rows are read at random, so ``MADV_RANDOM`` turns
    off read-around: a page that is not cached costs one 4 KB read, not 128 KB. Under a tight
    memory limit, read-around made every question wait on the disk
    (docs/decisions/013-memory-at-1m-passages.md). The load's checksum pass has just read every file,
    so while memory allows, the pages are in the page cache anyway.
    """
    with path.open("rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"{path.name} is not a C-ordered array")
        count = int(np.prod(shape))
        if count == 0:
            return np.zeros(shape, dtype)
        mapped = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)


def quantize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales with ``codes * scales[:, None]`` close to ``vectors``.

    Quantising what this gives back gives the same codes again, so vectors carried from one index
    version to the next (updates) do not drift."""
    vectors = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, np.float32)
    scales = np.where(peak > 0, peak / 127, 1).astype(np.float32)
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


class Int8Rows:
    """Rows of int8 codes with a scale each, read like a float32 matrix: ``rows[ids]`` gives the
    float32 rows (only those are converted)."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray) -> None:
        if codes.ndim != 2 or codes.dtype != np.int8 or scales.shape != (len(codes),):
            raise ValueError(f"int8 rows of shape {codes.shape} ({codes.dtype}) with {scales.shape} scales")
        self.codes, self.scales = codes, scales

    @classmethod
    def of(cls, vectors: np.ndarray) -> Int8Rows:
        return cls(*quantize_rows(vectors))

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, ids) -> np.ndarray:
        return self.codes[ids].astype(np.float32) * self.scales[ids][..., None]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = self[slice(None)]
        return rows if dtype is None else rows.astype(dtype)


def stored_rows(rows: Int8Rows | np.ndarray, ids) -> tuple[np.ndarray, np.ndarray | None]:
    """``rows[ids]`` as stored: int8 codes with their scales, or float32 rows and None. Read
    apart from the product, so that rows can be read before the vector is known."""
    if isinstance(rows, Int8Rows):
        return rows.codes[ids], rows.scales[ids]
    return np.asarray(rows[ids], dtype=np.float32), None


def dot_stored(stored: np.ndarray, scales: np.ndarray | None, vector: np.ndarray) -> np.ndarray:
    """``stored_rows``' rows times ``vector``, in float64; for int8 rows the scales multiply the
    products, not every component (half the work of converting the rows first)."""
    products = (stored.astype(np.float32, copy=False) @ vector).astype(np.float64)
    return products if scales is None else products * scales


def dot_rows(rows: Int8Rows | np.ndarray, ids, vector: np.ndarray) -> np.ndarray:
    """``rows[ids] @ vector`` in float64."""
    return dot_stored(*stored_rows(rows, ids), vector)
