"""Chapters 05-07 refuse bad parameters with a one-line error and exit status 2."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("chapter", "args", "message"),
    [
        ("05", ("-p", "K", "20"), "K must be smaller than D"),
        ("06", ("-p", "D", "3"), "D must be an integer >= 4"),
        ("07", ("-p", "activation", "tanh"), "activation must be one of"),
    ],
)
def test_bad_parameters_exit_2(chapter, args, message, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tltlib",
            "run",
            chapter,
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
    assert message in out.stderr and "Traceback" not in out.stderr
