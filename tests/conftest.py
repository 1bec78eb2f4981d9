"""Suite-wide settings: offscreen Qt, one torch thread (CI has 2 shared cores)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass
