"""Chapters 09a and 09b reject bad input with exit status 2 and a one-line error."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CH09A = ROOT / "chapters" / "09a-shallow-multihead-kernel-regime.md"
CH09B = ROOT / "chapters" / "09b-sequence-length-attention-vs-recurrence.md"


@pytest.mark.parametrize(
    ("chapter", "args", "message"),
    [
        (CH09A, ("-p", "widths", "[8, 31]"), "m must be an even integer >= 2"),
        (CH09A, ("-p", "rho", "-3.0"), "rho must be a finite number > 0, got -3.0"),
        (CH09A, ("-p", "T", "0"), "T must be an integer >= 1, got 0"),
        (CH09B, ("-p", "m", "7"), "m must be an even integer >= 2"),
        (CH09B, ("-p", "T_values", "[0, 4]"), "T must be an integer >= 1, got 0"),
        (CH09B, ("-p", "nu", "-1.0"), "nu must be a finite number > 0"),
    ],
)
def test_bad_input_exits_2_with_a_clear_error(chapter, args, message, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tltlib",
            "run",
            str(chapter),
            "-q",
            *args,
            "-o",
            str(tmp_path / "x.ipynb"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    # one line, no traceback of the error itself (the kernel may add shutdown noise of its own)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in out.stderr and 'File "' + str(ROOT) not in out.stderr
