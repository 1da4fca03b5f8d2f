"""The README's commands are the ones CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(section: str):
    text = (ROOT / "README.md").read_text().split(f"\n## {section}\n", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_runs_the_readmes_test_command_and_builds_the_documentation():
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    quick_loop, test_command = _commands("Tests")[:2]
    assert quick_loop.endswith('pytest tests -q -n 2 -m "not slow"')
    assert "pytest tests" in test_command and ci_lines[0] == test_command
    assert ci_lines[1].endswith("mkdocs build --strict -f docs/mkdocs.yml")


def test_the_readme_is_a_users_readme():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "UTC" not in text and "load average" not in text and "session" not in text
    for section in ("Installation", "Quick start", "Commands", "Differences from MindCV", "Guarantees", "Tests"):
        assert f"\n## {section}\n" in text


def test_the_options_added_here_are_the_ones_the_options_table_marks():
    from mindcv.config import OPTIONS

    text = (ROOT / "README.md").read_text()
    sentence = text.split("Added\nhere: ", 1)[1].split(". The global", 1)[0]
    listed = {part.strip("` \n") for part in sentence.replace(", and for `validate.py`", ",").split(",")}
    assert listed == {o.name for o in OPTIONS if "added here" in o.help} | {"print_config"}
