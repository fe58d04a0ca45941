"""The README's promises and their tests stay in step: every promise is listed in `tests/readme_promises.py` with
the tests that show it, and every test named there exists.

A promise is a bullet (its bold or italic label, its first code span, or its first words), a table row (its first
cell), or a section with neither. Editing the README's promises therefore means revisiting their tests.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.readme_promises import NOT_BEHAVIOUR, PROMISES

ROOT = Path(__file__).resolve().parent.parent
_RULE = re.compile(r"\|[-| :]+\|$")


def _label(bullet: str) -> str:
    for pattern in (r"\*\*(.+?)\*\*", r"\*(.+?)\*", r"(`[^`]+`)"):
        if found := re.match(pattern, bullet):
            return found.group(1).rstrip(".")
    return " ".join(bullet.split(":")[0].split()[:5]).rstrip(".,;")


def readme_promises(text: str) -> list[str]:
    """Every promise unit of the README, as "section: label" (or the section alone), in order."""
    units: list[str] = []
    section, counted, fenced, generated = "", 0, False, False
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif re.match(r"<!-- \w+:start -->", line) or re.match(r"<!-- \w+:end -->", line):
            generated = line.endswith(":start -->")  # a block a benchmark writes
        elif fenced or generated:
            continue
        elif heading := re.match(r"#{2,3} (.*)", line):
            if section and not counted:
                units.append(section)
            section, counted = heading.group(1).strip(), 0
        elif section in NOT_BEHAVIOUR:
            continue
        elif bullet := re.match(r"\s*- (.*)", line):
            units.append(f"{section}: {_label(bullet.group(1))}")
            counted += 1
        elif line.startswith("|") and not _RULE.match(line):
            following = lines[number + 1] if number + 1 < len(lines) else ""
            if not _RULE.match(following):  # not the header row
                units.append(f"{section}: {line.split('|')[1].strip()}")
                counted += 1
    if section and not counted:
        units.append(section)
    return [unit for unit in units if unit not in NOT_BEHAVIOUR]


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_every_promise_of_the_readme_is_listed_with_its_tests_and_nothing_else_is() -> None:
    units = readme_promises((ROOT / "README.md").read_text())
    assert len(units) > 80  # the parse found the README's promises, not an empty shell
    missing = [unit for unit in units if unit not in PROMISES]
    stale = [key for key in PROMISES if key not in units]
    assert (missing, stale) == ([], []), "README promises and tests/readme_promises.py disagree"
    empty = [f"{unit} / {claim}" for unit, claims in PROMISES.items() for claim, tests in claims.items() if not tests]
    assert empty == []


def test_every_test_the_promise_list_names_exists() -> None:
    names: dict[str, set[str]] = {}
    absent: list[str] = []
    for claims in PROMISES.values():
        for tests in claims.values():
            for test in tests:
                file, _, name = test.partition("::")
                path = ROOT / "tests" / file
                if file not in names:
                    names[file] = _test_names(path) if path.exists() else set()
                if name not in names[file]:
                    absent.append(test)
    assert absent == []
