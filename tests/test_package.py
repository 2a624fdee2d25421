"""The package's shape: its map (src/lplr/__init__.py) lists every module, modules and functions stay small,
and no two modules import each other, directly or around a loop (function-local imports included)."""

import ast
import re
from pathlib import Path

import lplr

SRC = Path(lplr.__file__).parent
MODULES = {p.stem for p in SRC.glob("*.py") if not p.stem.startswith("_")} | {"plots"}


def test_the_package_map_lists_every_module_and_only_those():
    listed = set(re.findall(r"^    (\w+)\s{2,}", lplr.__doc__, flags=re.M))
    assert listed == MODULES


def test_no_module_over_400_lines_and_no_function_over_100():
    long_functions = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100:
                long_functions.append(f"{path.name}:{node.name}")
    assert long_functions == []


def imports_of(path: Path) -> set[str]:
    """The lplr modules `path` imports, anywhere in it (a local import still makes a circle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lplr"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else None)
            if len(parts) == 1:
                found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lplr.")}
    return {name for name in found if name in MODULES}


def test_no_import_circle():
    graph = {p.stem: imports_of(p) - {p.stem} for p in SRC.glob("*.py") if p.stem in MODULES}
    graph["plots"] = set().union(*(imports_of(p) for p in (SRC / "plots").glob("*.py"))) - {"plots"}
    state, circles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            if state.get(other) == "open":
                circles.append(stack[stack.index(other):] + [other])
            elif other not in state:
                visit(other, stack + [other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
