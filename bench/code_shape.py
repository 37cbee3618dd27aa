"""Lines and longest functions per package: where the product's weight is.

    python bench/code_shape.py [TREE]      # default: this checkout

A package is a set of source files: the core (sms_notify/), the gateway clients (plugins/),
the integrations (integrations/), the sandbox (its server and every simulator, wherever they
live) and the example plugin. Lines are physical lines; a function's length runs from its
`def` (decorators included) to its last line, nested functions counted in their parent.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def package(path: Path) -> str | None:
    """Which package a source file belongs to, by where it lives and what it is."""
    parts = path.parts
    if path.suffix != ".py" or parts[0] in ("tests", "bench", "docs", "build", "dist") or any(
        part.startswith(".") or part.endswith(".egg-info") for part in parts
    ):
        return None
    if parts[0] == "sandbox" or path.stem.endswith("_sandbox") or path.stem.startswith(
        "sandbox"
    ) or "sandbox" in parts[:-1]:
        return "sandbox"
    if parts[0] == "examples":
        return "example plugin"
    return {"sms_notify": "core", "plugins": "plugins", "integrations": "integrations"}.get(parts[0])


def functions(tree: ast.AST) -> list[tuple[int, str]]:
    """(lines, name) of every top-level function and method."""
    found = []
    for node in ast.walk(tree):
        body = getattr(node, "body", [])
        for child in body if isinstance(node, (ast.Module, ast.ClassDef)) else []:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                assert child.end_lineno is not None
                found.append((child.end_lineno - start + 1, child.name))
    return found


def main(root: Path) -> None:
    lines: dict[str, int] = {}
    longest: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(root.rglob("*.py")):
        name = package(path.relative_to(root))
        if name is None:
            continue
        text = path.read_text(encoding="utf-8")
        lines[name] = lines.get(name, 0) + len(text.splitlines())
        rel = path.relative_to(root)
        longest.setdefault(name, []).extend(
            (n, f"{rel}:{f}") for n, f in functions(ast.parse(text))
        )
    print(f"| package | lines | longest functions (lines) |\n| --- | ---: | --- |")
    for name in ("core", "plugins", "integrations", "sandbox", "example plugin"):
        if name not in lines:
            continue
        top = sorted(longest[name], reverse=True)[:3]
        shown = ", ".join(f"{where} ({n})" for n, where in top)
        print(f"| {name} | {lines[name]} | {shown} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent).resolve())
