"""Parameter constraints scikit-learn's vocabulary lacks, for estimators and plugins alike."""

import numbers

from ._sklearn_compat import Interval, Options

__all__ = ["Sizes", "SIZES", "POSITIVE_INT", "as_sizes"]


class Sizes(Options):
    """A tuple or list of ints >= 1 (layer widths, filter counts); empty allowed.

    scikit-learn's validation accepts only its own constraint types, so this
    one is an :class:`Options` whose membership test is its own.
    """

    def __init__(self):
        super().__init__(tuple, set())

    def is_satisfied_by(self, val):
        return isinstance(val, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in val)

    def __str__(self):
        return "a tuple or list of ints >= 1"


#: An int >= 1, or a sequence of them.
POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
SIZES = [POSITIVE_INT, Sizes()]


def as_sizes(value):
    """A validated int or sequence of ints as a tuple of ints (None -> ())."""
    if value is None:
        return ()
    return (int(value),) if isinstance(value, numbers.Integral) else tuple(int(v) for v in value)
