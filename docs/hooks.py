"""MkDocs hook: ``{{ table:<name> }}`` in a page becomes the table ``benchmarks/report.py`` makes from
``benchmarks/results/<name>.json``, so a re-measurement changes data files, not prose."""
import importlib.util
import re
from pathlib import Path

_REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
_MARKER = re.compile(r"\{\{\s*table:(\w+)\s*\}\}")


def _report():
    spec = importlib.util.spec_from_file_location("benchmark_report", _REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_page_markdown(markdown, page, config, files):
    if "{{" not in markdown:
        return markdown
    tables = _report().TABLES

    def table(match):
        name = match.group(1)
        if name not in tables:
            raise KeyError(f"{page.file.src_path}: no benchmark table '{name}' (tables: {', '.join(tables)})")
        return tables[name]()

    return _MARKER.sub(table, markdown)
