"""Reading one ``.pt`` file someone else may have made: the only place Basin calls ``torch.load``.

Three checks come before torch reads anything (docs/SECURITY.md, "Checkpoints"):

* the file is opened through the one checked reader (``core.untrusted``): a regular file no larger than
  ``MAX_CHECKPOINT_BYTES`` (a FIFO named ``latest.pt`` hung ``basin resume``);
* its zip central directory is read first: ``torch.save`` writes every entry *stored* (uncompressed), so a
  compressed entry, an entry whose stated size differs from its stored size, or entries adding up to more than the
  file holds are refused. A 1 MB deflate-compressed file otherwise unpacked to 1.3 GB inside ``torch.load``;
  after this check what torch allocates is bounded by the file's size;
* ``weights_only=True``: pickled code or objects are refused before anything in them runs.

Every failure is one ``CheckpointError`` line naming the file. The file object, not its bytes, is handed to
``torch.load``, so a large checkpoint is not copied into memory first. Callers that know what the state must hold
(a resume state, a weights checkpoint) check that themselves (``training.checkpoints``).
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from desktop_app.core.config.limits import MAX_PARAMETERS
from desktop_app.core.untrusted import UnreadableFile, open_regular

# A resume state holds the model, the optimiser's state (Adam: two more copies) and RNG states: 4 bytes per
# weight, four copies at the parameter limit, plus room for the pickle and alignment.
MAX_CHECKPOINT_BYTES = 4 * 4 * MAX_PARAMETERS + 64 * 2**20
MAX_ZIP_ENTRIES = 100_000


class CheckpointError(ValueError):
    """A file is not a usable Basin checkpoint; the message says why in one line."""


def check_zip_directory(fh: BinaryIO, size: int, name: str) -> None:
    """Refuse a torch zip whose entries are compressed or claim more bytes than the file holds; reads only the
    central directory. CheckpointError (naming ``name``) otherwise."""
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{name}: not a readable checkpoint, truncated or corrupt (not a zip-format torch "
                              f"file: {first[:120]})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"{name}: refused: {len(infos):,} entries (at most {MAX_ZIP_ENTRIES:,})")
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{name}: refused: entry {info.filename[:80]!r} is compressed (torch.save stores "
                                  f"entries uncompressed; a compressed one can unpack to any size)")
        if info.file_size != info.compress_size:
            raise CheckpointError(f"{name}: refused: entry {info.filename[:80]!r} claims {info.file_size:,} bytes "
                                  f"but stores {info.compress_size:,}")
        total += info.file_size
    if total > size:
        raise CheckpointError(f"{name}: refused: its entries claim {total:,} bytes, more than the file's {size:,}")


def load_checkpoint_file(path: Path | str, device: str | torch.device = "cpu",
                         limit: int = MAX_CHECKPOINT_BYTES) -> Any:
    """The object a ``.pt`` file holds (tensors and primitives only), after the checks above; CheckpointError
    (one line naming the file) otherwise."""
    path = Path(path)
    try:
        with open_regular(path, limit) as (fh, size):
            check_zip_directory(fh, size, path.name)
            fh.seek(0)
            return torch.load(fh, map_location=device, weights_only=True)
    except UnreadableFile as exc:
        raise CheckpointError(f"{path.name}: {exc.reason}") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise CheckpointError(
            f"{path.name}: refused: the file holds pickled code or objects, not only tensors ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, struct.error, KeyError,
            IndexError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path.name}: not a readable checkpoint, truncated or corrupt "
                              f"({type(exc).__name__}: {first[:160]})") from None


def parameter_count(model: dict[str, Any]) -> int:
    return sum(int(v.numel()) for v in model.values() if isinstance(v, torch.Tensor))


def check_model_state(state: Any, name: str) -> dict[str, torch.Tensor]:
    """``state["model"]``: a dict of named tensors holding at most MAX_PARAMETERS values; CheckpointError
    naming the file otherwise."""
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{name}: not a Basin checkpoint (no 'model' state dict)")
    model = state["model"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise CheckpointError(f"{name}: the model state holds non-tensor values")
    n = parameter_count(model)
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{name}: refused: {n:,} parameters, more than the limit of {MAX_PARAMETERS:,}")
    return model


__all__ = ["MAX_CHECKPOINT_BYTES", "CheckpointError", "check_model_state", "check_zip_directory",
           "load_checkpoint_file", "parameter_count"]
