"""tltlib: the library behind *Transformers Learn Teachers*.

The package is a house of rooms; each is a subpackage with a docstring naming what it holds::

    tltlib/
      core/      argument checks, seeding, fits, check records (CheckLog), run history (History,
                 Run), the one training loop, the dry-run contract, errors, where the book is,
                 fingerprints and the stored tables of long sweeps
      model/     activations, teachers, the position-only student, the full transformer,
                 closed-form losses, metrics, input distributions, the theory's formulas
      train/     the trainers, each a step run by core's loop: population (exact), online, on a
                 data set, the full transformer, the reduced dynamics (compiled), plain references
      examples/  the teachers in their natural form: cnn, gcn, selection, groupsparse, digits,
                 and training the CNN teacher
      claims/    the paper's measured claims, by theme: training (with the overshoot), scaling, ood, sets
                 (Figure 2), images, full (Figure 1)
      figures/   every plot of the main paper's chapters
      kernel/    arXiv 2601.16514: model, transport teacher, recurrent baseline, experiments,
                 claims, figures
      recall/    arXiv 2505.15009: task, model, claims, figures
      book/      the runner, sweeps, the reproduction report, the Sphinx hooks

Import rules (``tests/test_import_rules.py`` reads every module's imports and fails on one that
breaks them):

* ``core`` imports nothing of tltlib; ``model`` only ``core``; ``train`` only ``model`` and ``core``;
* ``examples`` builds on ``core``, ``model`` and ``train``; ``claims`` on those and ``examples``;
* ``figures`` draws results and never trains: ``core`` and ``model`` only;
* ``kernel`` and ``recall`` use ``core`` and ``model``, never the main paper's trainers or claims;
* ``book`` drives chapters and never imports a trainer: ``core`` and ``figures`` only.

Chapters import rooms and name the module at each call (``from tltlib import claims, train``,
then ``train.online.train_online(...)``, ``claims.training.rate(...)``). The names below are
the most used ones, for an interactive session.
"""

from tltlib.core.checks import CheckLog
from tltlib.core.history import History, Run
from tltlib.model.activations import get_activation
from tltlib.model.student import PositionOnlyTransformer, column_softmax, positional_encoding
from tltlib.model.teachers import Teacher
from tltlib.train.online import train_online
from tltlib.train.population import train_population

__version__ = "0.1.0"

__all__ = [
    "CheckLog",
    "History",
    "PositionOnlyTransformer",
    "Run",
    "Teacher",
    "column_softmax",
    "get_activation",
    "positional_encoding",
    "train_online",
    "train_population",
]
