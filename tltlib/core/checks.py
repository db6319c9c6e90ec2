"""Check records: what a chapter claims, what it measured, and whether the two agree.

A chapter's **Check** section fills a :class:`CheckLog` (through :mod:`tltlib.claims.training` or
directly), shows it as a table, saves it and finally asserts that every check passed:

    log = CheckLog("01-cnn-average-pooling")
    log.close_to("loss_slope", "Theorem 3.1 (iii)", measured=-1.04, expected=-1.0, tolerance=0.15)
    log.save()          # see below
    log.assert_all()    # AssertionError naming every failed check

Records are plain JSON (a list of objects with ``name``, ``claim``, ``measured``,
``expected``, ``tolerance``, ``passed``, ``comparison`` and optional extra fields), so an
independent implementation or the reproduction report can read them.

Where :meth:`CheckLog.save` writes, first match wins:

1. the ``path`` argument;
2. the file named by ``$TLTLIB_CHECKS`` (``python -m tltlib run`` sets it, so that a run with
   other parameters never mixes with the book's records);
3. ``<records dir>/<chapter>.json``, the records directory being ``$TLTLIB_RECORDS_DIR`` or,
   in a checkout of the book, ``_build/checks/`` (:func:`default_records_dir`). This is where
   the book build, ``pytest`` (nbval) and an interactive session leave the records of a
   chapter run with its defaults, and where the reproduction report
   (:mod:`tltlib.book.report`) reads them;
4. nowhere (an installed ``tltlib`` outside a checkout, without either variable).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tltlib.core import fingerprint, paths
from tltlib.core.fits import SlopeFit

ENV_VAR = "TLTLIB_CHECKS"
RECORDS_DIR_VAR = "TLTLIB_RECORDS_DIR"
COMPARISONS = {
    "close": "|measured - expected| <= tolerance",
    "at_most": "measured <= expected",
    "at_least": "measured >= expected",
}


def _plain(value: Any) -> Any:
    """JSON-friendly copy: numpy and torch scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass
class Check:
    """One measured claim."""

    name: str
    claim: str
    measured: float
    expected: float
    tolerance: float
    passed: bool
    comparison: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.update(record.pop("extra"))
        return _plain(record)


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


@dataclass
class CheckLog:
    """The checks of one chapter (or one run)."""

    chapter: str
    records: list[Check] = field(default_factory=list)

    def add(
        self,
        name: str,
        claim: str,
        measured: float,
        expected: float,
        tolerance: float,
        comparison: str,
        **extra: Any,
    ) -> Check:
        """Record a check; ``comparison`` is one of :data:`COMPARISONS`. NaN never passes."""
        if comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {sorted(COMPARISONS)}, got {comparison!r}")
        if any(r.name == name for r in self.records):
            raise ValueError(f"a check named {name!r} is already in the log of {self.chapter}")
        m, e, tol = float(measured), float(expected), float(tolerance)
        if not (_finite(m) and _finite(e)):
            passed = False
        elif comparison == "close":
            passed = abs(m - e) <= tol
        elif comparison == "at_most":
            passed = m <= e
        else:
            passed = m >= e
        check = Check(name, claim, m, e, tol, bool(passed), comparison, dict(extra))
        self.records.append(check)
        return check

    def close_to(
        self,
        name: str,
        claim: str,
        measured: float,
        expected: float,
        tolerance: float,
        **extra: Any,
    ) -> Check:
        """Passes if ``|measured - expected| <= tolerance``."""
        return self.add(name, claim, measured, expected, tolerance, "close", **extra)

    def slope(
        self, name: str, claim: str, fit: SlopeFit, expected: float, tolerance: float, **extra: Any
    ) -> Check:
        """:meth:`close_to` on a fitted slope; the record keeps the fit's standard error, window
        and number of points."""
        window = [int(fit.x_min), int(fit.x_max)]
        extra = dict(stderr=fit.stderr, window=window, points=fit.n, **extra)
        return self.close_to(name, claim, fit.slope, expected, tolerance, **extra)

    def at_most(self, name: str, claim: str, measured: float, bound: float, **extra: Any) -> Check:
        """Passes if ``measured <= bound``."""
        return self.add(name, claim, measured, bound, 0.0, "at_most", **extra)

    def at_least(self, name: str, claim: str, measured: float, bound: float, **extra: Any) -> Check:
        """Passes if ``measured >= bound``."""
        return self.add(name, claim, measured, bound, 0.0, "at_least", **extra)

    def __getitem__(self, name: str) -> Check:
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(f"no check named {name!r}")

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.records)

    def failures(self) -> list[Check]:
        return [r for r in self.records if not r.passed]

    def to_json(self, fingerprint: dict[str, str] | None = None) -> str:
        """The records as JSON, each stamped with ``fingerprint`` (see :meth:`save`)."""
        extra = fingerprint or {}
        return json.dumps(
            [dict(chapter=self.chapter, **r.to_dict(), **extra) for r in self.records], indent=1
        )

    def fingerprint(self, source: str | os.PathLike | None = None) -> dict[str, str]:
        """``code_hash`` of the chapter's code cells and ``library_hash`` of ``tltlib``.

        ``source`` is the chapter's MyST file, by default ``chapters/<chapter>.md`` of the
        checkout; empty when there is no such file (a chapter outside the book).
        """
        path = Path(source) if source is not None else paths.CHAPTERS / f"{self.chapter}.md"
        if not path.is_file():
            return {}
        return {
            "code_hash": fingerprint.code_hash(path),
            "library_hash": fingerprint.library_hash(),
        }

    def save(
        self, path: str | os.PathLike | None = None, source: str | os.PathLike | None = None
    ) -> Path | None:
        """Write the records as JSON to ``path``, ``$TLTLIB_CHECKS`` or the records directory.

        Every record carries :meth:`fingerprint` of ``source`` (the chapter's file, by default
        found in the checkout; with an explicit ``path``, only if ``source`` is given), which
        the reproduction report compares with the sources it reads: the records stay fresh through a prose edit, and go stale when a code cell or
        the library changes. Returns the file written, or ``None`` when there is nowhere to
        write (see the module docstring for the order).
        """
        target = path if path is not None else os.environ.get(ENV_VAR)
        if not target:
            records_dir = default_records_dir()
            if records_dir is None:
                return None
            target = records_dir / f"{self.chapter}.json"
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        # records written to a file named by the caller belong to whatever book the caller
        # says (``source``); elsewhere they are those of this checkout's chapter
        stamp = self.fingerprint(source) if path is None or source is not None else {}
        target.write_text(self.to_json(stamp) + "\n")
        return target

    def assert_all(self) -> None:
        """Raise ``AssertionError`` listing every failed check (none: return quietly)."""
        failed = self.failures()
        if failed:
            lines = [
                f"{r.name}: measured {r.measured:.6g}, expected {_rule(r)} ({r.claim})"
                for r in failed
            ]
            raise AssertionError(
                f"{len(failed)} check(s) failed in {self.chapter}:\n  " + "\n  ".join(lines)
            )

    def table(self) -> str:
        """The records as a Markdown table."""
        rows = ["| check | claim | measured | expected | pass |", "|---|---|---|---|---|"]
        for r in self.records:
            mark = "yes" if r.passed else "**NO**"
            rows.append(
                f"| `{r.name}` | {markdown_text(r.claim)} | {r.measured:.4g} | {_rule(r)} | {mark} |"
            )
        return "\n".join(rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        ok = sum(r.passed for r in self.records)
        return f"CheckLog({self.chapter!r}: {ok}/{len(self.records)} passed)"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|$~#])")


def markdown_text(text: str) -> str:
    """Plain text shown as written in Markdown (MyST): every markup character escaped, so that
    a claim such as ``|z| of the gap`` or ``V* X S*`` cannot break or restyle a table."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _rule(r: Check) -> str:
    if r.comparison == "close":
        return f"{r.expected:.4g} ± {r.tolerance:.3g}"
    return ("≤ " if r.comparison == "at_most" else "≥ ") + f"{r.expected:.4g}"


def default_records_dir() -> Path | None:
    """The directory of the default-parameter check records, or ``None``.

    ``$TLTLIB_RECORDS_DIR`` if set; otherwise ``_build/checks`` next to ``_config.yml`` when
    ``tltlib`` is imported from a checkout of the book (editable install), which keeps the
    records out of the source tree (``_build/`` is git-ignored and rebuilt).
    """
    env = os.environ.get(RECORDS_DIR_VAR)
    if env:
        return Path(env)
    return paths.BUILD / "checks" if paths.in_checkout() else None


def load(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read check records written by :meth:`CheckLog.save`."""
    return json.loads(Path(path).read_text())
