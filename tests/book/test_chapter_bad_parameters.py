"""Every chapter refuses bad parameters through ``python -m tltlib run``: exit status 2 and one
``error:`` line that names the parameter and what is allowed, with no traceback of our code.

(The Jupyter kernel may print shutdown noise of its own on the same stderr, e.g. a
``ZMQError``; that is not ours to hide, so the test looks for the error line and for frames of
``tltlib``, not for silence.)
"""

import subprocess
import sys

import pytest

from tltlib.core.paths import ROOT

CASES = [
    ("01", ("-p", "D", "0"), "D must be an integer >= 2, got 0"),
    ("01", ("-p", "eta_fraction", "1.5"), "eta_fraction must be a number in [0.0, 1.0]"),
    ("01", ("-p", "horizon", "-1.0"), "horizon must be a finite number > 0"),
    ("01", ("-p", "D", "36", "-p", "K", "5"), "K must be a divisor of D"),
    ("01", ("-p", "activations", "['tanh']"), "activation must be one of"),
    ("02", ("-p", "graph", "erdos_renyi"), "graph must be regular"),
    ("02", ("-p", "graph", "random_regular", "-p", "K", "4", "-p", "D", "21"), "K does not fit D"),
    ("03", ("-p", "K", "0"), "K must be an integer >= 1"),
    ("04", ("-p", "i_star", "20"), "i_star must be an integer in [0, 19]"),
    ("05", ("-p", "K", "20"), "K must be smaller than D"),
    ("06", ("-p", "D", "3"), "D must be an integer >= 4"),
    ("07", ("-p", "activation", "tanh"), "activation must be one of"),
    ("08", ("-p", "data", "cifar"), "data must be one of 'digits', 'mnist'"),
    ("08", ("-p", "data", "mnist", "-p", "data_path", "/nonexistent/mnist"), "put the four MNIST"),
    ("09a", ("-p", "widths", "[8, 31]"), "m must be an even integer >= 2"),
    ("09a", ("-p", "rho", "-3.0"), "rho must be a finite number > 0, got -3.0"),
    ("09a", ("-p", "T", "0"), "T must be an integer >= 1, got 0"),
    ("09b", ("-p", "m", "7"), "m must be an even integer >= 2"),
    ("09b", ("-p", "T_values", "[0, 4]"), "T must be an integer >= 1, got 0"),
    ("09b", ("-p", "nu", "-1.0"), "nu must be a finite number > 0"),
    ("10", ("-p", "alpha", "1.0"), "alpha must be a number in [0, 1)"),
    ("10", ("-p", "N", "8"), "N must be an integer >= Q + Y + 2 = 11"),
    ("10", ("-p", "H", "4"), "H must be an integer >= 6 to place the pair (q, y)"),
    ("11", ("-p", "kinds", "['cauchy']"), "kinds must be one of"),
]


@pytest.mark.parametrize(("chapter", "args", "message"), CASES)
def test_bad_parameters_exit_2_with_one_clear_line(chapter, args, message, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tltlib", "run", chapter, "-q", *args,
         "-o", str(tmp_path / "out.ipynb")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], out.stderr
    # no frame of tltlib, in Python's traceback format or IPython's
    assert str(ROOT / "tltlib") not in out.stderr, out.stderr


def test_every_chapter_has_a_bad_parameter_case():
    chapters = {p.stem.split("-", 1)[0] for p in (ROOT / "chapters").glob("*.md")}
    assert chapters - {"00"} == {c for c, _, _ in CASES}
