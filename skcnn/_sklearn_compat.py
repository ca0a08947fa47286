"""Every private scikit-learn name skcnn uses, imported in this one place.

scikit-learn may move or change its private helpers between releases; when it
does, this module is the only one to adapt.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
                                             HasMethods,
                                             Hidden,
                                             Interval,
                                             Options,
                                             RealNotInt,
                                             StrOptions,
                                             validate_parameter_constraints,
                                             validate_params,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import _check_sample_weight, _check_y

__all__ = ["_fit_context", "HasMethods", "Hidden", "Interval", "Options", "RealNotInt",
           "StrOptions", "validate_parameter_constraints", "validate_params",
           "_check_sample_weight", "_check_y", "_get_output_config"]
