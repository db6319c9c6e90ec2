"""Broken shallow transformers shared by the kernel tests: each check must fail on them."""

import math

from tltlib.kernel.model import ShallowTransformer


class MeanField(ShallowTransformer):
    """Broken: the output scaled by 1/m instead of 1/sqrt(m)."""

    def __call__(self, X):
        return super().__call__(X) / math.sqrt(self.m)

    def function(self, X):
        f = super().function(X)
        return lambda *p: f(*p) / math.sqrt(self.m)
