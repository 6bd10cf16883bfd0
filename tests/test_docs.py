"""The documentation: links resolve, the README stays short, nothing cites what the repository
does not hold, and the README's command table names every command the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "models" / "README.md", ROOT / "benchmarks" / "README.md",
         ROOT / "rtst" / "data" / "README.md", *DOCS]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text().splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            text = match.group(1).strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            anchors.add(text.replace(" ", "-"))
    return anchors


def _code_free(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page):
    for target in LINK.findall(_code_free(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        assert dest.exists(), f"{page.relative_to(ROOT)} links to missing {target}"
        if anchor:
            assert anchor in _anchors(dest), f"{page.relative_to(ROOT)} links to missing anchor {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citations_outside_the_repository(page):
    text = page.read_text()
    assert "DESIGN" not in text and "shared/" not in text, f"{page.name} cites a document outside the repository"
    assert not re.search(r"\b[Ii]ssue\s+#?\d", text), f"{page.name} cites an issue number"


def test_readme_is_short_and_links_every_doc():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for doc in DOCS:
        assert f"docs/{doc.name}" in text, f"README.md does not link docs/{doc.name}"


def test_readme_command_table_names_every_command():
    from rtst.cli import COMMANDS

    text = (ROOT / "README.md").read_text()
    for name in COMMANDS:
        assert f"`rtst {name}" in text, f"README.md's command table lacks rtst {name}"
