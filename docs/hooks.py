"""MkDocs hook: markers in a page become tables generated from the code and data that own the facts.

- ``{{ table:<name> }}``: the table ``benchmarks/report.py`` makes from ``benchmarks/results/<name>.json``, so a
  re-measurement changes data files, not prose.
- ``{{ chart:<name> }}``: the chart (inline SVG) ``benchmarks/report.py`` draws from the same file.
- ``{{ options:added_here }}`` and ``{{ options:reference }}``: the options ``train.py`` and ``validate.py``
  accept, from the options table of ``mindcv/config.py`` (those added here, and all of them by group), so
  the documentation cannot disagree with ``--help``.
- ``{{ layout:<folder> }}``: the folder's packages and modules with the summaries their own docstrings (or a C++
  file's leading comment) give, so the code layout page is the code's own account of itself.
"""
import ast
import importlib.util
import re
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_REPORT = _ROOT / "benchmarks" / "report.py"
_MARKER = re.compile(r"\{\{\s*(table|chart|options|layout):(\w+)\s*\}\}")
_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data):`~?([^`]+)`")


def _report():
    spec = importlib.util.spec_from_file_location("benchmark_report", _REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _options(name: str) -> str:
    from mindcv.config import GROUPS, OPTIONS

    if name == "added_here":
        rows = [o for o in OPTIONS if "added here" in o.help]
        lines = ["| option | default | what it does |", "| --- | --- | --- |"]
        lines += [f"| `{o.name}` | `{o.default!r}` | {_cell(o.help)} |" for o in rows]
        return "\n".join(lines) + "\n"
    if name == "reference":
        parts = []
        for group in GROUPS:
            lines = [f"**{group}**", "", "| option | type | default | what it does |", "| --- | --- | --- | --- |"]
            for o in (o for o in OPTIONS if o.group == group):
                choices = f" (one of {', '.join(f'`{c}`' for c in o.choices if c != '')})" if o.choices else ""
                lines.append(f"| `{o.name}` | {o.kind} | `{o.default!r}` | {_cell(o.help)}{choices} |")
            parts.append("\n".join(lines))
        return "\n\n".join(parts) + "\n"
    raise KeyError(f"no options table '{name}' (tables: added_here, reference)")


def _markdown(docstring: str) -> str:
    """reST roles and double backticks of a docstring as Markdown code."""
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", docstring).replace("``", "`")


def _summary(path: Path) -> str:
    """A file's own account of itself: a module's or package's docstring, a C++ file's leading comment; the first
    paragraph for a file, all of it for a package. A file without one is an error, so the page has no gaps."""
    if path.suffix == ".py" or path.is_dir():
        source = path / "__init__.py" if path.is_dir() else path
        text = ast.get_docstring(ast.parse(source.read_text())) or ""
    else:
        lines = []
        for line in path.read_text().splitlines():
            if not line.startswith("//") or line.strip() == "//":
                break
            lines.append(line[2:].strip())
        text = " ".join(lines)
    if not text:
        raise ValueError(f"{path.relative_to(_ROOT)} has no docstring or leading comment; write one, the code "
                         "layout page is made from them")
    text = text if path.is_dir() else text.split("\n\n", 1)[0]
    return _markdown(" ".join(text.split()) if not path.is_dir() else text)


def _layout(folder: str) -> str:
    """The packages (with their docstrings) and files (with their summaries) under ``folder``."""
    root = _ROOT / folder
    if not root.is_dir():
        raise KeyError(f"no folder '{folder}' to lay out")
    sections = []
    packages = [root] + sorted(p.parent for p in root.rglob("__init__.py") if p.parent != root  # not .envs/, .venv/
                               and not any(part.startswith(".") for part in p.relative_to(root).parts))
    for package in packages:
        files = sorted(f for f in package.iterdir() if f.suffix in {".py", ".cc", ".h"} and f.name != "__init__.py")
        files += sorted(f for sub in package.iterdir() if sub.is_dir() and not (sub / "__init__.py").exists()
                        for f in sub.iterdir() if f.suffix in {".cc", ".h"})
        head = f"**`{package.relative_to(_ROOT)}/`**"
        intro = _summary(package) if (package / "__init__.py").exists() else ""
        lines = [head, "", intro, ""] if intro else [head, ""]
        lines += [f"- `{f.relative_to(package)}`: {_summary(f)}" for f in files]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def on_page_markdown(markdown, page, config, files):
    if "{{" not in markdown:
        return markdown
    report = _report()

    def table(match):
        kind, name = match.groups()
        if kind == "options":
            return _options(name)
        if kind == "layout":
            return _layout(name)
        made = report.CHARTS if kind == "chart" else report.TABLES
        if name not in made:
            raise KeyError(f"{page.file.src_path}: no benchmark {kind} '{name}' ({kind}s: {', '.join(made)})")
        return made[name]()

    return _MARKER.sub(table, markdown)
