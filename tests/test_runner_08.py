"""Chapter 08 refuses bad data arguments with exit status 2 and a one-line error."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "data", "cifar"), "data must be one of 'digits', 'mnist'"),
        (("-p", "data", "mnist", "-p", "data_path", "/nonexistent/mnist"), "put the four MNIST"),
    ],
)
def test_bad_data_arguments_exit_2(args, message, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tltlib", "run", "08", "-q", *args, "-o", str(tmp_path / "o.ipynb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("error:")]) == 1
