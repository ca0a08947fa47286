"""scikit-learn's private helpers that skcnn uses, imported in this one place."""

from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    RealNotInt,
    validate_params,
)

__all__ = ["HasMethods", "Hidden", "Interval", "RealNotInt", "validate_params"]
