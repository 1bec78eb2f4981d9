"""Only the package list, which pyproject.toml cannot say: the discovered ``desktop_app*`` packages plus
``desktop_app.resources`` and its folders, i.e. the top-level ``resources/`` mapped into the package by
``[tool.setuptools.package-dir]``. Discovery never finds a mapped package, and a hand-kept list in pyproject.toml
would silently drop every new subpackage from the wheel. Everything else is in pyproject.toml; build with
``pip install .`` / ``pip wheel .``, never ``python setup.py``."""

from setuptools import find_namespace_packages, setup

RESOURCES = "desktop_app.resources"

setup(packages=[
    *find_namespace_packages(include=["desktop_app*"]),
    RESOURCES,
    *(f"{RESOURCES}.{folder}" for folder in find_namespace_packages(where="resources")),
])
