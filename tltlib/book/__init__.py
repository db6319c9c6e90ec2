"""The book's tooling: it drives chapters and never imports a trainer.

``runner`` (``python -m tltlib run``: a chapter through papermill with other parameters),
``sweep`` (``python -m tltlib sweep``: grids of runs, cached, parallel or on Dask), ``report``
(``python -m tltlib report`` and the reproduction-report page), ``robustness``
(``python -m tltlib robustness``: every chapter at twenty seeds, the robustness page's data) and
``sphinx`` (the hooks of the book build, named in ``_config.yml``). Each command module has ``HELP``,
``DESCRIPTION``, ``add_arguments`` and ``main`` (see :mod:`tltlib.__main__`). The
modules are not imported here: a chapter that reads the report should not load papermill.
"""
