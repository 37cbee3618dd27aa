"""The docs the code relies on: every hook documented with its signature in the plugin author's
guide, and every document a docstring cites present in the repository."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from sms_notify import hookspecs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
CODE = [p for folder in ("sms_notify", "plugins", "integrations", "sandbox", "examples")
        for p in sorted((ROOT / folder).rglob("*.py"))]
HOOKS = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
         if name.startswith("sms_notify_")]


def signature(hook: object) -> str:
    """`name(arg: Type, ...) -> Type`, as hookspecs.py writes it."""
    sig = inspect.signature(hook)  # type: ignore[arg-type]
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{hook.__name__}({params}) -> {sig.return_annotation}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_every_hook_is_documented_with_its_signature(hook: object) -> None:
    headings = re.findall(r"^### `(.+)`$", GUIDE.read_text(encoding="utf-8"), re.MULTILINE)
    assert signature(hook) in headings, f"docs/plugins.md needs: ### `{signature(hook)}`"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    headings = re.findall(r"^### `(sms_notify_\w+)\(", GUIDE.read_text(encoding="utf-8"),
                          re.MULTILINE)
    assert sorted(headings) == sorted(h.__name__ for h in HOOKS)


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_docstrings_cite_only_documents_in_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\bDESIGN\b|WIRE-NOTES", text), (
        f"{path.name} cites a document outside the repository: cite docs/design.md, Decision N "
        "or docs/gateways.md")
    for cited in re.findall(r"\bdocs/[a-z][\w.-]*\.md\b", text):  # not a placeholder (TOPIC)
        assert (ROOT / cited).is_file(), f"{path.name} cites {cited}, which does not exist"
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    decided = {int(n) for n in re.findall(r"^(\d+)\. \*\*", design, re.MULTILINE)}
    for numbers in re.findall(r"\bDecisions? ((?:\d+(?:, | and )?)+)", text):
        for number in re.findall(r"\d+", numbers):
            assert int(number) in decided, f"{path.name} cites Decision {number}"
