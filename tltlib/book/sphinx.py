"""Sphinx hooks of the book build (``_config.yml``: ``sphinx.extra_extensions``).

The reproduction report (``reproduction-report.md``) is a notebook that reads the check
records which the chapters write while the build executes them. Two things follow, and
Sphinx knows neither, since the dependency goes through files in ``_build/checks``:

* the report must be read (MyST-NB executes a notebook when Sphinx reads it) *after* every
  chapter. Sphinx 7 reads the outdated documents in sorted docname order, which happens to
  put ``chapters/...`` before ``reproduction-report``; :func:`read_report_last` makes that
  an explicit rule rather than an accident of names;
* the report must be re-read on every build, even when its own source did not change, or an
  incremental build would keep an old table: :func:`report_always_outdated`.

One more hook works around a bug of the toolchain: Sphinx 7.4 adds every inline script
registered after the builder started (sphinx-thebe's ``const THEBE_JS_URL = ...``) a second
time when it prepares writing, and a browser then stops with "Identifier 'THEBE_JS_URL' has
already been declared" on every page (:func:`drop_duplicate_scripts`).
"""

from __future__ import annotations

from typing import Any

REPORT_DOCNAME = "reproduction-report"


def read_report_last(app: Any, env: Any, docnames: list[str]) -> None:
    """``env-before-read-docs``: move the report to the end of the reading order (in place)."""
    if REPORT_DOCNAME in docnames:
        docnames.remove(REPORT_DOCNAME)
        docnames.append(REPORT_DOCNAME)


def report_always_outdated(
    app: Any, env: Any, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """``env-get-outdated``: the report depends on every chapter's records; re-read it."""
    return [REPORT_DOCNAME] if REPORT_DOCNAME in env.found_docs else []


def drop_duplicate_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """``html-page-context``: keep one copy of each script (inline ones compared by body)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {})
        key = (getattr(js, "filename", js) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-before-read-docs", read_report_last)
    app.connect("env-get-outdated", report_always_outdated)
    app.connect("html-page-context", drop_duplicate_scripts)
    # the order of reading matters, so documents must not be read in parallel
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
