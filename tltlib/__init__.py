"""tltlib: the library behind *Transformers Learn Teachers*.

Teachers (:mod:`tltlib.model.teachers`), the position-only student (:mod:`tltlib.model.student`),
exact losses (:mod:`tltlib.model.losses`), trainers (:mod:`tltlib.train.population`,
:mod:`tltlib.train.online`), theory (:mod:`tltlib.model.theory`), measured claims
(:mod:`tltlib.claims.training`, :mod:`tltlib.core.checks`), plots (:mod:`tltlib.figures.curves`) and the
papermill runner (``python -m tltlib``).
"""

from tltlib.core.history import Run
from tltlib.model.activations import get_activation
from tltlib.model.student import PositionOnlyTransformer, column_softmax, positional_encoding
from tltlib.model.teachers import Teacher
from tltlib.train.online import train_online
from tltlib.train.population import train_population

__version__ = "0.1.0"

__all__ = [
    "PositionOnlyTransformer",
    "Run",
    "Teacher",
    "column_softmax",
    "get_activation",
    "positional_encoding",
    "train_online",
    "train_population",
]
