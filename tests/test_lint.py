"""The repository passes ruff with the configuration in pyproject.toml (line length, pyflakes, pep8-naming,
bugbear), so a lint error fails the suite as it would fail review."""
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytest.importorskip("ruff", reason="the test extra")


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_reads_the_project_configuration(tmp_path):
    """The settings are pyproject.toml's: a 121-column line is an error, a 120-column one is not."""
    for width, expected in ((120, 0), (121, 1)):
        source = tmp_path / f"width_{width}.py"
        source.write_text("x = '" + "a" * (width - 6) + "'\n")
        done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                               str(ROOT / "pyproject.toml"), str(source)], capture_output=True, text=True, timeout=300)
        assert done.returncode == expected, done.stdout
