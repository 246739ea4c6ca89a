"""The Python code is as ruff (in the ``test`` extra) wants it: lint rules and formatting, run
with README's one test command, so CI checks them."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = [
    p for p in ("xr_coregix", "tests", "benchmarks", "examples", "scripts") if (ROOT / p).is_dir()
]

pytest.importorskip("ruff", reason="ruff comes with the test extra")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
