"""What a unit is doing, in words, for the window's progress line and ``basin run``'s bar: one wording for both.

An online unit (kind "online", docs/ARCHITECTURE.md "Online experiments") has no epochs: each pre-trained layer
sees its stream slice once, and its fine-tuning Progress carries evaluation points in the ``epoch`` fields (the
point being trained towards or just reached, 1-based), so it is worded as that point, not as "epoch k/n".
"""

from __future__ import annotations


def phase_text(kind: str, phase: str, layer: int, epoch: int, epochs: int) -> str:
    """E.g. "pre-training layer 2, epoch 3/10", "fine-tuning epoch 4/30", "online fine-tuning to evaluation point
    2/12". ``epoch`` 0 = the phase has just started."""
    online = kind == "online"
    if phase == "pretrain":
        return f"pre-training layer {layer + 1} on the stream" if online else \
            f"pre-training layer {layer + 1}, epoch {epoch}/{epochs}"
    if online:
        return f"online fine-tuning to evaluation point {max(epoch, 1)}/{epochs}"
    return f"fine-tuning epoch {epoch}/{epochs}"
