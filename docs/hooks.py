"""MkDocs hook: markers in a page become tables generated from the code and data that own the facts.

- ``{{ table:<name> }}``: the table ``benchmarks/report.py`` makes from ``benchmarks/results/<name>.json``, so a
  re-measurement changes data files, not prose.
- ``{{ options:added_here }}`` and ``{{ options:reference }}``: the options ``train.py`` and ``validate.py``
  accept, from the options table of ``mindcv/engine/config.py`` (those added here, and all of them by group), so
  the documentation cannot disagree with ``--help``.
"""
import importlib.util
import re
from pathlib import Path

_REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
_MARKER = re.compile(r"\{\{\s*(table|options):(\w+)\s*\}\}")


def _report():
    spec = importlib.util.spec_from_file_location("benchmark_report", _REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _options(name: str) -> str:
    from mindcv.engine.config import GROUPS, OPTIONS

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


def on_page_markdown(markdown, page, config, files):
    if "{{" not in markdown:
        return markdown
    tables = _report().TABLES

    def table(match):
        kind, name = match.groups()
        if kind == "options":
            return _options(name)
        if name not in tables:
            raise KeyError(f"{page.file.src_path}: no benchmark table '{name}' (tables: {', '.join(tables)})")
        return tables[name]()

    return _MARKER.sub(table, markdown)
