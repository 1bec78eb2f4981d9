"""core.resources: a checkout reads its own resources/, an installed copy reads the package through
importlib.resources, and a missing install is one ConfigError line (the wheel itself: tests/packaging)."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import resources
from desktop_app.core.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_its_own_resources():
    assert resources.resources_dir() == ROOT / "resources"
    assert resources.resource_path("data", "digits5k.npz").is_file()
    assert (ROOT / "resources" / "__init__.py").is_file()  # the package marker the build and the check rely on


def _fake_install(tmp_path: Path, monkeypatch, name: str) -> Path:
    """An importable package ``name`` on sys.path holding presets/, as a wheel lays desktop_app.resources out."""
    pkg = tmp_path / "site" / name
    (pkg / "presets").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""fake resources"""\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(resources, "PACKAGE", name)
    monkeypatch.setattr(resources, "_CHECKOUT_ROOT", tmp_path / "not-a-checkout")
    return pkg


def test_an_installed_copy_reads_the_package_through_importlib_resources(tmp_path, monkeypatch):
    pkg = _fake_install(tmp_path, monkeypatch, "basin_fake_resources_a")
    assert resources.resources_dir() == pkg
    assert resources.resource_path("presets") == pkg / "presets"


def test_a_checkout_wins_over_an_install_made_elsewhere(tmp_path, monkeypatch):
    _fake_install(tmp_path, monkeypatch, "basin_fake_resources_b")
    monkeypatch.setattr(resources, "_CHECKOUT_ROOT", ROOT)
    assert resources.resources_dir() == ROOT / "resources"


def test_a_folder_named_resources_without_the_checkout_is_not_taken(tmp_path, monkeypatch):
    """site-packages may hold another distribution's top-level ``resources`` package; only a checkout counts."""
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "__init__.py").write_text("")
    monkeypatch.setattr(resources, "_CHECKOUT_ROOT", tmp_path)
    monkeypatch.setattr(resources, "PACKAGE", "basin_no_such_resources_package")
    with pytest.raises(ConfigError) as err:
        resources.resources_dir()
    assert err.value.field == "resources" and "not installed" in str(err.value)
    assert "\n" not in str(err.value)
