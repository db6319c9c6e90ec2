"""Bad parameters of chapters 02-04 stop the run with exit status 2 and a one-line reason."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("chapter", "args", "message"),
    [
        ("02", ("-p", "graph", "erdos_renyi"), "graph must be regular"),
        (
            "02",
            ("-p", "graph", "random_regular", "-p", "K", "4", "-p", "D", "21"),
            "K does not fit D",
        ),
        ("03", ("-p", "K", "0"), "K must be an integer >= 1"),
        ("04", ("-p", "i_star", "20"), "i_star must be an integer in [0, 19]"),
    ],
)
def test_bad_parameters_exit_2_with_the_reason(chapter, args, message, tmp_path):
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
    # one line, no traceback of the error itself (the kernel may print unrelated shutdown
    # noise of its own on this stderr, as in tests/test_runner.py)
    assert out.stderr.count(message) == 1 and 'File "' + str(ROOT) not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
