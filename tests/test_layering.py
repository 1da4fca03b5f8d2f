"""The package's import graph: no cycles, and no import from a lower layer into a higher one.

Imports by name at run time (``importlib.import_module("mindcv....")``, literal or f-string) are edges too; the
one that runs upward, ``mindcv.utils`` handing out MindCV's training names from ``mindcv.engine``, is declared in
``REEXPORTED_UPWARD`` and checked to be the only one."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mindcv"
# Lower numbers are lower layers; a module may import its own layer's packages (without cycles) or lower ones.
LAYERS = {"utils": 0, "ops": 1, "data": 1, "loss": 1, "optim": 1, "scheduler": 1, "convert": 1, "models": 2,
          "engine": 3, "config": 4, "serving": 5, "run": 6}
ENTRY_POINTS = {"mindcv", "mindcv.cli", "mindcv.train", "mindcv.validate", "mindcv.predict", "mindcv.export",
                "mindcv.plot", "mindcv.convert.__main__"}
# MindCV keeps create_trainer, TrainStep, StateMonitor, ... in mindcv.utils; here they live in the engine and
# mindcv.utils looks them up by name when asked (mindcv/utils/__init__.py).
REEXPORTED_UPWARD = {("mindcv.utils", "mindcv.engine")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("mindcv"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("mindcv"):
                yield target
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            target = _leading_text(node.args[0]) if node.args else ""
            if target.startswith("mindcv"):
                yield target.rstrip(".")


def _leading_text(node) -> str:
    """The constant text a string expression starts with (an f-string's text before its first field)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value
    return ""


def _package(module: str) -> str:
    if module in ENTRY_POINTS:
        return "entry"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "entry"


def _declared(source: str, target: str, declared) -> bool:
    return any(source == s and (target == t or target.startswith(t + ".")) for s, t in declared)


def _graph(declared=frozenset()):
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        source = _module_name(path)
        for target in _imports(path):
            if _package(source) != _package(target) and not _declared(source, target, declared):
                edges.add((_package(source), _package(target), source, target))
    return edges


def test_no_import_from_a_lower_layer_into_a_higher_one():
    rank = dict(LAYERS, entry=99)
    upward = sorted(f"{s} -> {t}" for a, b, s, t in _graph(REEXPORTED_UPWARD) if rank[a] < rank[b])
    assert upward == []


def test_the_declared_upward_edges_are_the_ones_the_code_has():
    """An import by name is seen (else the declaration would hide nothing), and no declaration is stale."""
    rank = dict(LAYERS, entry=99)
    found = {(s, t) for a, b, s, t in _graph() if rank[a] < rank[b]}
    assert found == REEXPORTED_UPWARD


def test_packages_form_no_cycle():
    edges = {}
    for a, b, _, _ in _graph(REEXPORTED_UPWARD):
        edges.setdefault(a, set()).add(b)

    def reaches(start, goal, seen=()):
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen + (nxt,)))
                   for nxt in edges.get(start, ()))

    assert [p for p in edges if reaches(p, p)] == []


def test_converters_do_not_build_models():
    convert = {s for a, b, s, t in _graph() if a == "convert" and b == "models" and s != "mindcv.convert.__main__"}
    assert convert == set()


def test_modules_form_no_cycle():
    """Not even inside a package, and not through an import inside a function."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        for target in _imports(path):
            while target not in modules and "." in target:  # ``from .x import name`` names the module x
                target = target.rsplit(".", 1)[0]
            package_init = name == target or (modules[name].name == "__init__.py" and target.startswith(name + "."))
            if target in modules and not package_init and (name, target) not in REEXPORTED_UPWARD:
                edges.setdefault(name, set()).add(target)

    def cycle_from(start):
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    return path
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
        return None

    assert [cycle_from(m) for m in modules if cycle_from(m)] == []
