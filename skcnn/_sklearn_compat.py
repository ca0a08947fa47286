"""scikit-learn's private helpers that skcnn uses, imported in this one place."""

from sklearn.utils._param_validation import Hidden, Interval, RealNotInt, validate_params

__all__ = ["Hidden", "Interval", "RealNotInt", "validate_params"]
