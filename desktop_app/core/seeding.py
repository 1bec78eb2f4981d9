"""Seeds derived from (seed, purpose, position): randomness that does not depend on what ran before."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, purpose: str, *more: int) -> int:
    """A seed for one purpose at one point in a run, independent of history (exact resume, paired arms)."""
    words = [int(seed), zlib.crc32(purpose.encode()), *[int(m) for m in more]]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] % (2**63 - 1))
