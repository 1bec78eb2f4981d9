"""Presets: ExperimentConfig instances shipped as TOML in resources/presets/."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.config import ConfigError, ExperimentConfig, load
from desktop_app.core.resources import resource_path

DEFAULT_PRESET = "quick-demo"


def presets_dir() -> Path:
    return resource_path("presets")


def list_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def load_preset(name: str) -> ExperimentConfig:
    path = presets_dir() / f"{name}.toml"
    if name not in list_presets():  # a name, never a path out of the presets folder
        raise ConfigError("preset", f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    return load(path)


def resolve_config(ref: str) -> ExperimentConfig:
    """A preset name or a path to a TOML file."""
    if ref.endswith(".toml") or Path(ref).exists():
        return load(ref)
    return load_preset(ref)
