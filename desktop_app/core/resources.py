"""Where Basin's shipped files (presets, the embedded digits, icons) are read from: the one owner.

They live in the repository's top-level ``resources/`` folder, which the build ships as the package
``desktop_app.resources`` (a package-dir mapping plus package data in pyproject.toml; setup.py adds the package
to the discovered ones). Every installed form reads them through ``importlib.resources``:

- a wheel, ``pip install .`` or pipx: ``site-packages/desktop_app/resources/``;
- the editable install (``make run`` / ``make test``): setuptools' editable finder maps the package to the
  checkout's ``resources/``;
- the PyInstaller bundle: packaging/basin.spec collects the folder, ``__init__.py`` included, to
  ``desktop_app/resources`` under ``sys._MEIPASS``.

A source checkout comes first and reads its own ``resources/`` (recognised by the ``pyproject.toml`` beside
``desktop_app/``): code run with ``PYTHONPATH`` from one tree must not read another tree's files through an
editable install made elsewhere, and a checkout runs without being installed at all.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from desktop_app.core.errors import ConfigError

PACKAGE = "desktop_app.resources"
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def _checkout_resources() -> Path | None:
    """The source checkout's ``resources/``, or None when this code is not running from a checkout."""
    folder = _CHECKOUT_ROOT / "resources"
    if (_CHECKOUT_ROOT / "pyproject.toml").is_file() and (folder / "__init__.py").is_file():
        return folder
    return None


def _installed_resources() -> Path | None:
    """The installed package's folder through importlib.resources, or None when it is not installed.

    Basin needs real paths (numpy and tomllib read files, Qt reads icons), and every supported install unpacks
    the package onto the filesystem, where ``files()`` is a ``pathlib.Path``; a zipped install is refused.
    """
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        return None
    if not isinstance(root, Path):
        raise ConfigError("resources", f"{PACKAGE} is installed inside an archive ({root}); install Basin "
                                       "unpacked (pip install, pipx or the bundle)")
    return root


def resources_dir() -> Path:
    """The folder holding ``presets/``, ``data/`` and ``icons/``; a one-line ConfigError when none is installed."""
    folder = _checkout_resources() or _installed_resources()
    if folder is None or not folder.is_dir():
        raise ConfigError("resources", f"Basin's resources (presets, embedded digits, icons) are missing: the "
                                       f"package {PACKAGE} is not installed; reinstall Basin (pip install .)")
    return folder


def resource_path(*parts: str) -> Path:
    """Path of a file under the resources folder, e.g. ``resource_path("data", "digits5k.npz")``."""
    return resources_dir().joinpath(*parts)
