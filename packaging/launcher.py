"""Frozen entry point: the same composition root as `python -m desktop_app`."""

import sys

from desktop_app.__main__ import main

if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # unit worker processes (core.execution.local) in a frozen bundle
    sys.exit(main())
