"""Named, independent random streams derived from one integer seed.

A chapter has a single ``seed`` parameter. Every random object (the teacher's value
matrix, the positional encoding, each training batch, the out-of-distribution sample)
draws from its own stream, so that changing, say, the number of steps leaves the teacher
unchanged, and the same seed gives the same numbers bit for bit.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from tltlib.core.validate import positive_int


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit integer seed for the stream ``stream`` of the master seed ``seed``."""
    seed = positive_int("seed", seed, minimum=0)
    key = zlib.crc32(stream.encode("utf-8"))
    state = np.random.SeedSequence(entropy=seed, spawn_key=(key,)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def generator(seed: int, stream: str) -> torch.Generator:
    """A ``torch.Generator`` seeded for the stream ``stream`` of ``seed``."""
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A NumPy ``Generator`` for the stream ``stream`` of ``seed``."""
    return np.random.default_rng(stream_seed(seed, stream))
