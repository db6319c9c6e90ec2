"""The trainers, each a step function run by the one loop (:func:`tltlib.core.loop.run_loop`).

``population`` (exact population GD, identity), ``online`` (online GD with fresh batches, the
paper's method), ``on_data`` (mini-batch GD on a fixed data set), ``full`` (the full
transformer of eq. 2.5), ``reduced`` (Theorem 3.1's dynamics in a few scalars, compiled) and
``reference`` (plain autograd versions, the yardstick of the fast ones). ``train`` imports
only :mod:`tltlib.model` and :mod:`tltlib.core`.
"""

from . import full, on_data, online, population, reduced, reference

__all__ = ["full", "on_data", "online", "population", "reduced", "reference"]
