"""Reads the IDX files MNIST ships in (the format make_idx_dataset.py writes
and data/dataset.cc reads): a big-endian header of two zero bytes, the
element type, the rank and the dimensions, then the elements row-major.

Shared by bench/engine/pytorch_epoch.py and
tests/engine/golden/make_cnn_golden.py, which import it through sys.path.
"""
import struct

import numpy as np


def read_idx(path):
    """The unsigned-byte array stored at path, shaped by the file's dimensions."""
    with open(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
