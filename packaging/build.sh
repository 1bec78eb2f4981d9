#!/usr/bin/env bash
# Build the PyInstaller onedir bundle into dist/basin and smoke-test it.
# Usage: packaging/build.sh   (from anywhere; uses the project's .venv, creating it with `make venv` if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || make venv
.venv/bin/python -m pip install --quiet "pyinstaller>=6.10,<7"
start=$(date +%s)
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/basin.spec
end=$(date +%s)
size=$(du -sh dist/basin | cut -f1)
echo "bundle: dist/basin  size: ${size}  build time: $((end - start)) s"
smoke_start=$(date +%s)
QT_QPA_PLATFORM=offscreen dist/basin/basin --smoke-test --out build/smoke
echo "frozen smoke test passed in $(( $(date +%s) - smoke_start )) s (PNG in build/smoke/)"
