"""Install anywhere: the wheel carries the presets, the embedded digits and the icons, and an installed copy
works from any folder (issue 23).

One wheel is built (``pip wheel --no-build-isolation``, offline) from a copy of the tree and installed with
``--no-deps`` into a fresh venv in tmp; a ``.pth`` file written after the install lends it this venv's
site-packages for torch, Qt and the rest (written afterwards, so pip never sees this venv's own ``basin``). The
commands run from a folder outside the checkout with no PYTHONPATH, and each test checks it imported the
installed copy, not the checkout.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("desktop_app", "resources", "pyproject.toml", "setup.py", "README.md", "NOTICE")
TINY_RUN = {  # quick-demo cut to one unit of one epoch (seconds)
    "seeds.count": "1", "arms": '["none"]', "finetune.epochs": "1", "data.n_labelled": "200",
    "data.n_valid": "100", "data.n_test": "200", "data.probe_size": "20", "device": "cpu",
    "snapshots.filters": "false",
}


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{cmd[:4]} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _shipped_resource_files() -> set[str]:
    """Every file under resources/ the wheel must carry, as wheel paths (caches and bytecode aside)."""
    return {f"desktop_app/resources/{p.relative_to(ROOT / 'resources').as_posix()}"
            for p in (ROOT / "resources").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:  # a copy: building in the checkout would leave build/ and *.egg-info there
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(out), str(src)])
    (built,) = out.glob("basin-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv holding only the wheel, plus a .pth to this venv's site-packages; returns paths and env."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)])
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                        ).stdout.strip())
    lent = [p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]]) if Path(p).is_dir()]
    (purelib / "zz_basin_test_deps.pth").write_text("".join(f"{p}\n" for p in lent))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1", BASIN_WORKSPACE=str(elsewhere / "workspace"))
    basin = python.parent / ("basin.exe" if os.name == "nt" else "basin")
    return {"python": python, "basin": basin, "purelib": purelib, "cwd": elsewhere, "env": env}


def test_the_wheel_carries_every_resource_and_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _shipped_resource_files() <= names, sorted(_shipped_resource_files() - names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "desktop_app").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules <= names, sorted(modules - names)  # setup.py's package list missed a subpackage


def test_the_installed_copy_reads_its_own_package_data(installed):
    probe = ("import desktop_app, importlib.resources as r; from desktop_app.core.resources import resources_dir; "
             "print(desktop_app.__file__); print(r.files('desktop_app.resources')); print(resources_dir())")
    lines = _run([str(installed["python"]), "-c", probe], cwd=installed["cwd"], env=installed["env"]
                 ).stdout.splitlines()
    package = installed["purelib"] / "desktop_app"
    assert lines == [str(package / "__init__.py"), str(package / "resources"), str(package / "resources")]


def test_installed_basin_lists_the_presets_and_runs_quick_demo(installed):
    kwargs = {"cwd": installed["cwd"], "env": installed["env"]}
    listed = _run([str(installed["basin"]), "presets"], **kwargs).stdout
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert names == sorted(p.stem for p in (ROOT / "resources" / "presets").glob("*.toml"))

    out = installed["cwd"] / "tiny-run"
    sets = [arg for key, value in TINY_RUN.items() for arg in ("--set", f"{key}={value}")]
    proc = _run([str(installed["basin"]), "run", "quick-demo", "--quiet", "--out", str(out), *sets], **kwargs)
    assert f"run folder: {out}" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    with (out / "metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {row["arm"] for row in rows} == {"none"}
    assert (out / "metrics" / "none_s0.csv").is_file()


def test_installed_window_finds_its_icons(installed):
    """``basin --smoke-test`` from the installed copy: the real window with its icon, one epoch, exports."""
    proc = _run([str(installed["basin"]), "--smoke-test", "--out", str(installed["cwd"] / "smoke")],
                cwd=installed["cwd"], env=installed["env"])
    assert proc.stdout.startswith("smoke test ok:"), proc.stdout + proc.stderr
    sizes = len(list((ROOT / "resources" / "icons").glob("basin-*.png")))
    assert sizes >= 1 and f"window icon at {sizes} sizes" in proc.stdout
