"""Chapter 10 rejects bad input through the runner with exit status 2 and a one-line error."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CH10 = ROOT / "chapters" / "10-in-context-reasoning.md"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "alpha", "1.0"), "alpha must be a number in [0, 1)"),
        (("-p", "N", "8"), "N must be an integer >= Q + Y + 2 = 11"),
        (("-p", "H", "4"), "H must be an integer >= 6 to place the pair (q, y)"),
    ],
)
def test_bad_input_gives_exit_2_and_names_the_parameter(args, message, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tltlib", "run", str(CH10), "-q", *args,
         "-o", str(tmp_path / "out.ipynb")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], out.stderr
    assert "Traceback" not in out.stderr
