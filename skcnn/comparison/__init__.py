"""Compare CNNs with classical models on the same splits: :func:`compare`.

Every model sees the same stratified folds (or the same single hold-out
split); the result is a tidy :class:`pandas.DataFrame` with the mean and
standard deviation of each score, the time each model needed and what it
costs to run, rendered as text, Markdown, CSV, JSON or a chart.

The package, one job per module:

* ``_models``: :class:`ModelSpec`, :func:`on_features`, :func:`on_pixels`,
  the built-in models (:data:`DEFAULT_MODELS`) configured for the data and
  the machine, and the ``models=`` argument;
* ``_inputs``: what the models are fitted on (the images as given, small,
  as pixels, or pretrained features extracted once for all images);
* ``_splits``: the encoded labels, the splits every model shares, the metrics;
* ``_regression``: the same for a continuous target (KFold, R², MAE, RMSE) and
  the built-in regression models;
* ``_run``: each model on the splits through scikit-learn's
  :func:`~sklearn.model_selection.cross_validate`, failures recorded;
* ``_fitted``: :func:`count_parameters` and the device of a fitted model;
* ``_result``: :class:`ComparisonResult`, the table and its renderings;
* ``_compare``: :func:`compare`, which checks its arguments and ties them together.

Importing this package loads neither torch nor the models.
"""

from ._compare import compare
from ._fitted import count_parameters
from ._inputs import SMALL_SIZE
from ._models import DEFAULT_MODELS, MODEL_DESCRIPTIONS, ModelSpec, on_features, on_pixels
from ._regression import REGRESSION_MODEL_DESCRIPTIONS, REGRESSION_MODELS
from ._result import ComparisonResult

__all__ = ["compare", "ComparisonResult", "ModelSpec", "on_features", "on_pixels",
           "count_parameters", "DEFAULT_MODELS", "MODEL_DESCRIPTIONS", "SMALL_SIZE",
           "REGRESSION_MODELS", "REGRESSION_MODEL_DESCRIPTIONS"]
