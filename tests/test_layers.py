"""The layers of DESIGN §2: each module imports only the layers below it (or its own), and no two
modules import each other, lazily inside a function or not. Built from the source with ``ast``,
so it runs without importing anything."""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zhibiao"

# DESIGN §2, lowest first. A unit is a top-level module or a subpackage of zhibiao.
LAYERS = {
    "base": {"errors", "resources", "versioning"},
    "knowledge": {"text", "values", "taxonomy"},
    "reading": {"ingest", "tables"},
    "models": {"embed", "classify", "recommend", "training", "evaluation", "suggest_eval"},
    "judgement": {"copies", "audit", "selfeval", "forms"},
    "pipeline": {"pipeline", "batch", "store"},
    "interfaces": {"cli", "cli_corpus", "service", "demo", "console", "__main__"},
}
RANK = {unit: i for i, units in enumerate(LAYERS.values()) for unit in units}
LAYER_OF = {unit: name for name, units in LAYERS.items() for unit in units}


def unit_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def units() -> set[str]:
    out = set()
    for p in SRC.rglob("*.py"):
        if p.parent == SRC and p.name == "__init__.py":
            continue  # the package root: the lazy public facade, above every layer
        out.add(unit_of(p))
    return out


def module_name(path: Path) -> list[str]:
    """Dotted parts of the module under zhibiao; a package's __init__ is the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def is_unit(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").exists()


def imports(source: str, here: list[str], is_package: bool = False) -> set[str]:
    """Units of zhibiao that a module (dotted parts ``here``) imports, anywhere in its source."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            mods = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "zhibiao"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "zhibiao":
                mod = node.module.split(".")[1:]
            else:
                continue
            # `from . import audit`: the names are modules; `from .. import __version__`: not a unit
            mods = [[a.name] for a in node.names] if not mod else [mod]
        else:
            continue
        out.update(m[0] for m in mods if m and is_unit(m[0]))
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for p in SRC.rglob("*.py"):
        if p.parent == SRC and p.name == "__init__.py":
            continue
        u = unit_of(p)
        edges[u] |= imports(p.read_text(encoding="utf-8"), module_name(p), p.name == "__init__.py") - {u}
    return edges


def test_every_module_has_a_layer():
    missing = units() - set(RANK)
    assert not missing, f"place these in DESIGN §2's layers (tests/test_layers.py): {sorted(missing)}"


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} ({LAYER_OF.get(a)}) imports {b} ({LAYER_OF.get(b)})"
                  for a, bs in edges.items() for b in bs if a in RANK and b in RANK and RANK[b] > RANK[a])


def test_no_module_imports_a_higher_layer():
    bad = upward(graph())
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    edges = graph()
    cycles = sorted(f"{a} <-> {b}" for a, bs in edges.items() for b in bs if a in edges.get(b, ()) and a < b)
    assert not cycles, cycles


@pytest.mark.parametrize("source,here,expected", [
    ("from ..audit import audit\n", ["service", "app"], {"audit"}),
    ("from . import classify\n", ["pipeline"], {"classify"}),
    ("def f():\n    from .pipeline import Pipeline\n", ["cli"], {"pipeline"}),
    ("import zhibiao.batch.run\n", ["demo"], {"batch"}),
    ("from .report import x\n", ["audit", "core"], {"audit"}),   # a sibling in the same package
    ("from . import __version__\n", ["versioning"], set()),
])
def test_the_scanner_sees_every_import_form(source, here, expected):
    """The graph would pass vacuously if the scanner missed an import form."""
    assert imports(source, here) == expected


def test_an_upward_import_is_caught():
    assert upward({"values": {"text", "audit"}}) == ["values (knowledge) imports audit (judgement)"]
