"""The GUI's reproduce-* presets are the experiments `basin reproduce` runs (same config hash), so a claim can be
watched live in the window and its run folders are interchangeable with the CLI's."""

import pytest

from desktop_app.core import reproduce
from desktop_app.core.config import expand_sweep
from desktop_app.core.presets import list_presets, load_preset

PRESET_HASHES = {variant.hash(): name for name in list_presets() if name.startswith("reproduce-")
                 for _, variant in expand_sweep(load_preset(name))}


@pytest.mark.parametrize("claim", ["regulariser", "modern-control", "width", "labels", "function-space", "bottom-k",
                                   "penalties", "output-variance"])
def test_every_experiment_of_a_claim_is_a_preset(claim):
    for label, cfg in reproduce.CLAIMS[claim].experiments(False):
        assert cfg.hash() in PRESET_HASHES, f"{claim}: experiment {label} has no reproduce-* preset"
