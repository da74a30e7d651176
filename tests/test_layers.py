"""The package's import graph: no cycles, and every import runs down the layer order
cli → flow → blocks → core (inside flow: down ``FLOW_ORDER``). Also: nothing outside a block's
own folders names the block (the core, flows, CLI, cocotb library and bench driver read blocks
only through their ``BlockInfo``)."""

import ast
import re
from pathlib import Path

import pytest

from hwgen.blocks import blocks

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "hwgen"

#: Layer of each part of the package: a module may import its own layer or a lower one.
LAYERS = {"hwgen": 0, "hwgen.core": 0, "hwgen.testing": 0, "hwgen.blocks": 1, "hwgen.flow": 2,
          "hwgen.cli": 3, "hwgen.__main__": 3}

#: The flow modules, lowest first: each imports only modules before it.
FLOW_ORDER = ("logs", "formal", "templates", "tools", "reports", "targets", "emit", "synth", "sim",
              "gls", "harness", "fpga")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The hwgen modules ``path`` imports (``from x import name`` counts ``x.name`` if that is
    a module, else ``x``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod
                       for a in node.names]
        else:
            continue
        out |= {t for t in targets if t == "hwgen" or t.startswith("hwgen.")}
    return out - {name}


def graph() -> dict[str, set[str]]:
    files = sorted(PKG.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def violations(g: dict[str, set[str]]) -> list[str]:
    """Every import against the layer order, and every cycle."""
    bad = []
    for mod, deps in sorted(g.items()):
        for dep in sorted(deps):
            if layer(dep) > layer(mod):
                bad.append(f"{mod} imports {dep} (layer {layer(dep)} above {layer(mod)})")
            if mod.startswith("hwgen.flow.") and dep.startswith("hwgen.flow."):
                a, b = mod.split(".")[2], dep.split(".")[2]
                if FLOW_ORDER.index(b) >= FLOW_ORDER.index(a):
                    bad.append(f"{mod} imports {dep} (flow order: {' < '.join(FLOW_ORDER)})")
            if (mod.startswith("hwgen.blocks.") and dep == "hwgen.blocks"):
                bad.append(f"{mod} imports the registry hwgen.blocks (a block is below it)")
    # cycles: depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                bad.append("import cycle: " + " → ".join([*stack[stack.index(d):], d]))
            elif d in g and d not in state:
                visit(d, [*stack, d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    return bad


def test_every_module_has_a_layer():
    g = graph()
    assert all(layer(m) >= 0 for m in g)
    flows = {m.split(".")[2] for m in g if m.startswith("hwgen.flow.")}
    assert flows == set(FLOW_ORDER), "add the new flow module to FLOW_ORDER"


def test_imports_follow_the_layers_without_cycles():
    assert violations(graph()) == []


def test_the_checker_catches_cycles_and_upward_imports():
    g = {"hwgen.core.a": {"hwgen.flow.sim"}, "hwgen.flow.sim": {"hwgen.flow.fpga"},
         "hwgen.flow.fpga": {"hwgen.flow.sim"}, "hwgen.blocks.x": {"hwgen.blocks"},
         "hwgen.blocks": set()}
    bad = violations(g)
    assert "hwgen.core.a imports hwgen.flow.sim (layer 2 above 0)" in bad
    assert any(b.startswith("hwgen.flow.sim imports hwgen.flow.fpga (flow order") for b in bad)
    assert "import cycle: hwgen.flow.sim → hwgen.flow.fpga → hwgen.flow.sim" in bad
    assert "hwgen.blocks.x imports the registry hwgen.blocks (a block is below it)" in bad


def test_sim_library_reads_only_core_and_the_registry():
    lib = ROOT / "sim" / "hwgen_tb"
    modules = set(graph())
    for path in sorted(lib.glob("*.py")):
        deps = imports_of(path, modules)
        assert deps <= {d for d in modules if d.startswith("hwgen.core")} | {"hwgen.blocks"}, \
            (path.name, deps)


#: Files that must not name any block: they read blocks only through BlockInfo.
GENERIC = [*sorted((PKG / "core").glob("*.py")), *sorted((PKG / "flow").glob("*.py")),
           PKG / "cli.py", PKG / "__main__.py", PKG / "testing.py",
           *sorted((ROOT / "sim" / "hwgen_tb").glob("*.py")), ROOT / "bench" / "driver.py",
           ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "tests" / "conftest.py",
           ROOT / "tests" / "test_cocotb_benches.py", ROOT / "tests" / "test_contract.py"]


@pytest.mark.parametrize("path", GENERIC, ids=lambda p: str(p.relative_to(ROOT)))
def test_generic_code_names_no_block(path):
    text = path.read_text()
    for name in blocks():
        hits = [f"{path.name}:{i}: {line.strip()}" for i, line in
                enumerate(text.splitlines(), 1) if re.search(rf"\b{name}\b", line)]
        assert not hits, "\n".join(hits)
