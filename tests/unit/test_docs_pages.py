"""Issue 10 items 13 and 15: the docs a user of a clone has.

The README and docs/ link only to files in the repository (never ../shared), every
link and anchor resolves, the pages the README promises exist, the CLI page names
every flag the parser has, test files named in docs exist, and no number that goes
stale with every commit (a test count) is written down.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from runwright.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "runner-image" / "README.md", *DOCS]
PROMISED = [
    "api.md",
    "run-semantics.md",
    "block-contract.md",
    "cli.md",
    "endpoints.md",
    "architecture.md",
    "reasons.md",
]
LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_resolve_inside_the_repository(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text, f"{_rel(page)} points outside the repository"
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        assert resolved.is_relative_to(ROOT), f"{_rel(page)}: {target} leaves the repository"
        assert resolved.exists(), f"{_rel(page)}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{_rel(page)}: no #{anchor} in {target}"


def test_the_readme_links_every_docs_page_and_the_index_lists_them() -> None:
    readme = (ROOT / "README.md").read_text()
    index = (ROOT / "docs" / "README.md").read_text()
    for name in PROMISED:
        assert (ROOT / "docs" / name).exists(), name
        assert f"(docs/{name}" in readme, f"README does not link docs/{name}"
        assert f"({name})" in index, f"docs/README.md does not list {name}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_counts_that_go_stale(page: Path) -> None:
    stale = re.findall(r"\b\d[\d,]* (?:unit |integration )?tests\b", page.read_text())
    assert not stale, f"{_rel(page)} states {stale}: such numbers are wrong by the next commit"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_test_files_named_in_docs_exist(page: Path) -> None:
    for path in re.findall(r"tests/[\w/]+\.py", page.read_text()):
        assert (ROOT / path).exists(), f"{_rel(page)} names {path}, which does not exist"


def test_the_runner_image_readme_names_the_sdk_tests() -> None:
    text = (ROOT / "runner-image" / "README.md").read_text()
    (path,) = re.findall(r"tests/[\w/]+\.py", text)
    assert "def test_sdk_" in (ROOT / path).read_text()


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """{subcommand: its long option strings}, from the real parser."""
    found: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = [
                    opt for a in sub._actions for opt in a.option_strings if opt.startswith("--")
                ]
    return found


def test_the_cli_page_documents_every_flag() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for command, options in _options(build_parser()).items():
        assert f"runwright {command}" in text, command
        for option in options:
            if option == "--help":
                continue
            assert option in text, f"docs/cli.md does not document runwright {command} {option}"


def test_the_endpoints_page_names_every_route() -> None:
    text = (ROOT / "docs" / "endpoints.md").read_text()
    sources = (ROOT / "operator" / "runwright" / "http.py").read_text() + (
        ROOT / "operator" / "runwright" / "controller" / "health.py"
    ).read_text()
    routes = re.findall(r'add_(?:get|post)\("([^"]+)"', sources)
    assert routes
    for route in routes:
        assert route in text, f"docs/endpoints.md does not document {route}"
