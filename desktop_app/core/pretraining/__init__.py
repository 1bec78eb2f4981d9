"""Greedy layer-wise unsupervised pre-training: RBM (CD-k / PCD), denoising AE, convolutional AE."""

from desktop_app.core.pretraining.base import LayerPretrainer, PretrainingDiverged, corrupt
from desktop_app.core.pretraining.cae import ConvAEPretrainer
from desktop_app.core.pretraining.dae import DAEPretrainer
from desktop_app.core.pretraining.rbm import (
    RBMPretrainer,
    cd_gradient,
    exact_ll_gradient,
    exact_log_likelihood,
    exact_log_partition,
    free_energy,
)
from desktop_app.core.pretraining.registry import PRETRAINERS, make_pretrainer

__all__ = [
    "PRETRAINERS",
    "ConvAEPretrainer",
    "DAEPretrainer",
    "LayerPretrainer",
    "PretrainingDiverged",
    "RBMPretrainer",
    "cd_gradient",
    "corrupt",
    "exact_ll_gradient",
    "exact_log_likelihood",
    "exact_log_partition",
    "free_energy",
    "make_pretrainer",
]
