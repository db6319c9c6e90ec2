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

The book executes its notebooks through Jupyter Book's cache (``execute_notebooks: cache``):
jupyter-cache keys a notebook on its code cells, so a prose-only edit executes nothing and a
code edit executes that chapter again. The cache cannot see two other inputs, and
:func:`invalidate_cache` (``builder-inited``) sees to them before anything is read:

* the library: the cache is keyed on :func:`tltlib.core.fingerprint.library_hash` too, kept in
  :data:`KEY_FILE` beside the cache (written when a build finishes without error,
  :func:`save_cache_key`). When it changed, or when ``$TLTLIB_FORCE_EXECUTE`` is set
  (:data:`FORCE_VAR`), the cache is emptied and every document is read (executed) again;
* the check records in ``_build/checks`` that the reproduction report reads: a chapter whose
  records are missing or stale (:func:`tltlib.book.report.staleness`: deleted, or made by
  other code cells, for instance before an edit was undone) loses its cache entry and is
  executed again, so that the report never finds old records.

The pages that read what the chapters left (the report, the robustness page) are re-read on
every build (:func:`report_always_outdated`) but executed only when what they read changed:
:func:`stamp_inputs` (``source-read``) writes a digest of their inputs (:func:`page_inputs`:
the check records, ``_toc.yml`` and the chapters' code for the report, ``robustness.json`` for
the robustness page) into their first code cell, so that the cache, which keys a notebook on its
code, misses exactly when an input changed. A prose-only edit of a chapter changes none of them.

One more hook works around a bug of the toolchain: Sphinx 7.4 adds every inline script
registered after the builder started (sphinx-thebe's ``const THEBE_JS_URL = ...``) a second
time when it prepares writing, and a browser then stops with "Identifier 'THEBE_JS_URL' has
already been declared" on every page (:func:`drop_duplicate_scripts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tltlib.core.extras import require

logging = require("sphinx.util", "book").logging

REPORT_DOCNAME = "reproduction-report"
ROBUSTNESS_DOCNAME = "appendix/robustness"
#: pages re-read on every build, and executed again when their inputs changed
ALWAYS_READ = (REPORT_DOCNAME, ROBUSTNESS_DOCNAME)
#: the comment that :func:`stamp_inputs` writes into an always-read page's first code cell
STAMP = "# inputs of this page (tltlib.book.sphinx.stamp_inputs): "
#: set (to anything but "" or "0") to execute every chapter: the cache is emptied
FORCE_VAR = "TLTLIB_FORCE_EXECUTE"
#: the library key of the execution cache, beside it in ``_build/``
KEY_FILE = ".jupyter_cache-tltlib.json"

LOGGER = logging.getLogger(__name__)


def read_report_last(app: Any, env: Any, docnames: list[str]) -> None:
    """``env-before-read-docs``: move the report to the end of the reading order (in place)."""
    if REPORT_DOCNAME in docnames:
        docnames.remove(REPORT_DOCNAME)
        docnames.append(REPORT_DOCNAME)


def report_always_outdated(
    app: Any, env: Any, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """``env-get-outdated``: the pages of :data:`ALWAYS_READ`, and those that
    :func:`invalidate_cache` marked (every document when the cache was emptied)."""
    marked = getattr(app, "tltlib_reread", set()) if app is not None else set()
    if "*" in marked:
        return sorted(env.found_docs)
    return sorted(doc for doc in {*ALWAYS_READ, *marked} if doc in env.found_docs)


def forced() -> bool:
    """True when ``$TLTLIB_FORCE_EXECUTE`` asks to execute every chapter."""
    return os.environ.get(FORCE_VAR, "") not in ("", "0")


def cache_key() -> dict[str, str]:
    """What the execution cache is keyed on beside each notebook's code: the library."""
    from tltlib.core.fingerprint import library_hash

    return {"library_hash": library_hash()}


def _cache_paths(app: Any) -> tuple[Path, Path] | None:
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache":
        return None
    cache = Path(config.execution_cache_path)
    return cache, cache.parent / KEY_FILE


def invalidate_cache(app: Any) -> None:
    """``builder-inited`` (after MyST-NB's): empty the cache or drop stale chapters from it."""
    app.tltlib_reread = set()
    found = _cache_paths(app)
    if found is None:
        return
    cache, key_file = found
    try:
        old = json.loads(key_file.read_text())
    except (OSError, ValueError):
        old = None
    if forced() or old != cache_key():
        why = f"${FORCE_VAR} is set" if forced() else "tltlib changed (or no key yet)"
        LOGGER.info(f"tltlib: {why}: emptying the execution cache {cache}")
        shutil.rmtree(cache, ignore_errors=True)
        key_file.unlink(missing_ok=True)
        app.tltlib_reread = {"*"}
        return
    srcdir = Path(app.srcdir)
    if not cache.is_dir() or not (srcdir / "_toc.yml").is_file():
        return
    get_cache = require("jupyter_cache", "book").get_cache

    from tltlib.book.report import collect

    stale = [c for c in collect(srcdir).chapters if c.problem and c.path.is_file()]
    if not stale:
        return
    jcache = get_cache(str(cache))
    by_uri: dict[str, list[int]] = {}
    for record in jcache.list_cache_records():
        by_uri.setdefault(str(Path(record.uri).resolve()), []).append(record.pk)
    for c in stale:
        LOGGER.info(f"tltlib: {c.docname} runs again: {c.problem}")
        for pk in by_uri.get(str(c.path.resolve()), []):
            jcache.remove_cache(pk)
        app.tltlib_reread.add(c.docname)


def page_inputs(docname: str, srcdir: str | os.PathLike) -> str:
    """SHA-256 of what the always-read page ``docname`` reads beside its own source.

    The report reads the check records of the chapters that ``_toc.yml`` lists, and says which
    are stale against the chapters' code; the robustness page reads ``robustness.json`` and the
    list of chapters. (An edit of ``tltlib`` empties the whole cache: :func:`invalidate_cache`.)
    """
    from tltlib.core.checks import default_records_dir
    from tltlib.core.fingerprint import code_hash

    root = Path(srcdir)
    digest = hashlib.sha256()

    def add(name: str, data: bytes) -> None:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())

    toc = root / "_toc.yml"
    add("_toc.yml", toc.read_bytes() if toc.is_file() else b"")
    if docname == REPORT_DOCNAME:
        records = default_records_dir() or root / "_build" / "checks"
        for file in sorted(Path(records).glob("*.json")):
            add(f"records/{file.name}", file.read_bytes())
        for chapter in sorted((root / "chapters").glob("*.md")):
            add(chapter.name, code_hash(chapter).encode())
    else:
        data = root / "appendix" / "robustness.json"
        add("robustness.json", data.read_bytes() if data.is_file() else b"")
        for chapter in sorted((root / "chapters").glob("*.md")):
            add(chapter.name, b"")
    return digest.hexdigest()


def stamped(text: str, digest: str) -> str:
    """``text`` (a MyST notebook) with :data:`STAMP` ``digest`` opening its first code cell's
    code (after the cell's option lines); unchanged when it has no code cell."""
    from tltlib.core.fingerprint import CODE_CELL_FENCE

    lines = text.split("\n")
    for i, line in enumerate(lines):
        if CODE_CELL_FENCE.match(line):
            j = i + 1
            while j < len(lines) and lines[j].startswith(":"):
                j += 1
            lines.insert(j, STAMP + digest)
            return "\n".join(lines)
    return text


def stamp_inputs(app: Any, docname: str, source: list[str]) -> None:
    """``source-read``: stamp the inputs of an always-read page into its code (cache mode)."""
    if docname in ALWAYS_READ and _cache_paths(app) is not None:
        source[0] = stamped(source[0], page_inputs(docname, app.srcdir))


def save_cache_key(app: Any, exception: Exception | None) -> None:
    """``build-finished``: record the library key once a build has succeeded with it."""
    found = _cache_paths(app)
    if found is None or exception is not None:
        return
    cache, key_file = found
    if cache.is_dir():
        key_file.write_text(json.dumps(cache_key()) + "\n")


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
    app.connect("builder-inited", invalidate_cache, priority=900)  # after MyST-NB's config
    app.connect("source-read", stamp_inputs)
    app.connect("build-finished", save_cache_key)
    app.connect("html-page-context", drop_duplicate_scripts)
    # the order of reading matters, so documents must not be read in parallel
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
