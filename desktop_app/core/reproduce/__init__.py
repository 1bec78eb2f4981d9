"""`basin reproduce`: the classic claims about pre-training, run on the embedded digits and checked with numbers.

Three jobs, three modules: ``claims`` (what each claim runs, and running it), ``verdicts`` (the statistics that
turn run folders into a verdict) and ``report`` (the Markdown of docs/RESULTS.md).
"""

from desktop_app.core.reproduce.claims import CLAIMS, Claim, ClaimIncomplete, describe_setup, run_claim
from desktop_app.core.reproduce.report import ClaimResult, render_report

__all__ = ["CLAIMS", "Claim", "ClaimIncomplete", "ClaimResult", "describe_setup", "render_report", "run_claim"]
