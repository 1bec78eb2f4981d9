"""Basin's shipped files: presets (TOML), the embedded digits (npz) and icons.

This folder stays at the repository's top level and is installed as the package ``desktop_app.resources``
(pyproject.toml maps it); this file makes it a regular package, which setuptools' editable install and
PyInstaller's frozen importer need. Read it only through ``desktop_app.core.resources``.
"""
