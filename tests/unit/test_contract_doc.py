"""docs/passport-contract.md is where every ``A-n`` the code cites resolves: each cited
assumption is defined there, each defined one is cited, and every "held by" name exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "passport-contract.md"
CITATION = re.compile(r"\bA-(\d+)\b")
HEADING = re.compile(r"^### A-(\d+) ", re.MULTILINE)
HELD_BY = re.compile(r"^- (?:held by|simulator): (.*?)(?=^\S|^- |\Z)", re.MULTILINE | re.DOTALL)
DOTTED = re.compile(r"`((?:permitsync|passport_sim)(?:\.\w+)+)`")


def _cited() -> dict[int, list[str]]:
    cited: dict[int, list[str]] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for number in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(int(number), []).append(str(path.relative_to(ROOT)))
    return cited


def _defined() -> set[int]:
    return {int(n) for n in HEADING.findall(DOC.read_text(encoding="utf-8"))}


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``, then walk the attributes (a pydantic
    settings field counts as an attribute of its class)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            fields = getattr(target, "model_fields", {})
            target = fields[name] if name in fields else getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


def test_every_cited_assumption_is_defined() -> None:
    missing = {n: where for n, where in _cited().items() if n not in _defined()}
    assert missing == {}


def test_every_defined_assumption_is_cited_in_the_code() -> None:
    assert _defined() - set(_cited()) == set()
    assert _defined() == set(range(1, max(_defined()) + 1))


HOLDERS = sorted(
    {
        name
        for block in HELD_BY.findall(DOC.read_text(encoding="utf-8"))
        for name in DOTTED.findall(block)
    }
)


def test_the_doc_names_holders() -> None:
    assert len(HOLDERS) >= len(_defined())


@pytest.mark.parametrize("dotted", HOLDERS)
def test_every_holder_exists(dotted: str) -> None:
    assert _resolve(dotted) is not None
