"""docs/SECURITY.md's limits section is the one the declaration generates."""

from pathlib import Path

from desktop_app.core.config import limits_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def test_limits_section_matches_the_declaration():
    text = DOC.read_text(encoding="utf-8")
    head = "## Limits on configs and datasets\n"
    assert head in text
    section = text.split(head, 1)[1]
    section = section.split("\n## ", 1)[0]
    assert section.strip() == limits_markdown().strip(), (
        "regenerate the section: python -c 'from desktop_app.core.config import limits_markdown; "
        "print(limits_markdown())'"
    )
