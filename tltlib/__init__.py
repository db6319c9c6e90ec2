"""tltlib: the library behind *Transformers Learn Teachers*.

Teachers (:mod:`tltlib.teachers`), the position-only student (:mod:`tltlib.student`),
exact losses (:mod:`tltlib.losses`), trainers (:mod:`tltlib.population`,
:mod:`tltlib.online`), theory (:mod:`tltlib.theory`), measured claims
(:mod:`tltlib.claims`, :mod:`tltlib.checks`), plots (:mod:`tltlib.plots`) and the
papermill runner (``python -m tltlib``).
"""

from .activations import get_activation
from .online import train_online
from .population import Run, train_population
from .student import PositionOnlyTransformer, column_softmax, positional_encoding
from .teachers import Teacher

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
