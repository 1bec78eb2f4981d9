"""The online stream: an endless, deterministic sequence of fresh deformations of a base image set.

Example ``i`` of a stream is a function of (seed, purpose, i) alone: its base image comes from pass ``i // N``'s
permutation of the N base images (every base image once per pass), its elastic + affine deformation from the
generator of its chunk of ``CHUNK`` examples. So a resumed unit continues the identical stream, arms of one seed
see the same examples (paired), and no example index is ever drawn twice (docs/ARCHITECTURE.md, "Online
experiments"). Pre-training and fine-tuning draw from two streams of one seed ("pretrain", "finetune").
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from desktop_app.core.seeding import derive_seed

CHUNK = 1000  # examples generated together (one deformation call); a constant of the stream, never a setting

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class OnlineStream:
    """Examples ``[start, start + n)`` of one seed's stream for one purpose; see the module docstring."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, augment: Augment, seed: int, purpose: str,
                 cache_bytes: int = 0) -> None:
        """``cache_bytes``: how much of the generated stream to keep (whole chunks, oldest dropped first) for a
        caller that reads it again (output variance: dozens of passes over one stream); 0 = the current chunk."""
        if len(x) == 0:
            raise ValueError("the online stream needs at least one base image")
        self.x, self.y, self.augment = x, y, augment
        self.seed, self.purpose = int(seed), purpose
        chunk_bytes = CHUNK * max(1, x[:1].numel()) * x.element_size()
        self._keep = max(1, int(cache_bytes) // chunk_bytes)
        self._chunks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._perm: tuple[int, torch.Tensor] | None = None

    def base_indices(self, start: int, stop: int) -> torch.Tensor:
        """Which base image examples ``start .. stop-1`` deform."""
        n = len(self.x)
        out = []
        i = start
        while i < stop:
            p = i // n
            end = min(stop, (p + 1) * n)
            out.append(self._pass_perm(p)[i - p * n : end - p * n])
            i = end
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def _pass_perm(self, p: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != p:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, f"online-{self.purpose}-order", p))
            self._perm = (p, torch.randperm(len(self.x), generator=gen))
        return self._perm[1]

    def _get_chunk(self, c: int) -> tuple[torch.Tensor, torch.Tensor]:
        if c not in self._chunks:
            while len(self._chunks) >= self._keep:
                del self._chunks[next(iter(self._chunks))]
            idx = self.base_indices(c * CHUNK, (c + 1) * CHUNK).to(self.x.device)
            gen = torch.Generator().manual_seed(derive_seed(self.seed, f"online-{self.purpose}-deform", c))
            self._chunks[c] = (self.augment(self.x[idx], gen), self.y[idx])
        return self._chunks[c]

    def take(self, start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of examples ``start .. start+n-1``."""
        xs, ys = [], []
        i, stop = int(start), int(start) + int(n)
        while i < stop:
            c = i // CHUNK
            end = min(stop, (c + 1) * CHUNK)
            cx, cy = self._get_chunk(c)
            xs.append(cx[i - c * CHUNK : end - c * CHUNK])
            ys.append(cy[i - c * CHUNK : end - c * CHUNK])
            i = end
        if not xs:
            return self.x[:0], self.y[:0]
        return (xs[0], ys[0]) if len(xs) == 1 else (torch.cat(xs), torch.cat(ys))


def evaluation_points(budget: int, block: int, n_points: int, batch: int) -> list[int]:
    """Log-spaced points in examples seen, from one block to the budget, on minibatch boundaries (multiples of
    ``batch``, and the budget itself, which always ends the list)."""
    import numpy as np

    first = max(1, min(block, budget))
    raw = np.geomspace(first, budget, max(2, n_points))
    points = {min(budget, int(-(-float(p) // batch) * batch)) for p in raw}
    points.add(budget)
    return sorted(points)
