"""Shared by the benchmarks: write a result section into docs/PERFORMANCE.md between markers."""

from __future__ import annotations

import platform
import re
import sys
from datetime import datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"
HEADER = "# Performance\n\nBenchmarks live in `bench/`; each rewrites its own section below. Numbers are medians of\n" \
         "repeated runs on this project's 2-core CPU machine; ratios are measured in the same run.\n"


def machine_line() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"Python {sys.version.split()[0]}, torch {torch.__version__}, {datetime.now():%Y-%m-%d}")


def write_section(name: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
