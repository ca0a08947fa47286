"""Hyperparameter search on a budget: successive halving over training epochs.

scikit-learn's :class:`~sklearn.model_selection.HalvingGridSearchCV` and
:class:`~sklearn.model_selection.HalvingRandomSearchCV` accept any integer
parameter as the resource; with ``resource='max_epochs'`` they train every
candidate for a few epochs, keep the best third (``factor=3``), train those
longer, and so on. :func:`halving_search_cv` builds such a search for a skcnn
estimator after checking the epoch budget, with errors that name the fix.

Each iteration fits a fresh clone of every surviving candidate (scikit-learn
clones the estimator for every candidate and split), so a survivor retrains
from its first epoch even with ``warm_start=True``; see
:doc:`/search_budget`.
"""

import warnings
from numbers import Integral, Real

from sklearn.experimental import enable_halving_search_cv  # noqa: F401 (registers them)
from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

__all__ = ["halving_search_cv", "check_epoch_budget"]


def check_epoch_budget(estimator, min_epochs, max_epochs, params=None, resource="max_epochs"):
    """Check a successive-halving budget counted in epochs.

    Parameters
    ----------
    estimator : estimator
        A skcnn estimator (or a pipeline holding one) with the parameter
        named ``resource``.
    min_epochs : int
        Epochs of every candidate in the first iteration; at least 1.
    max_epochs : int
        Epochs of the candidates of the last iteration.
    params : dict or list of dict, default=None
        The search space; it must not contain ``resource`` itself.
    resource : str, default='max_epochs'
        The epoch parameter (``'cnn__max_epochs'`` inside a pipeline).

    Raises
    ------
    ValueError
        With the fix, for a budget below one epoch, fractional epochs, a
        ``min_epochs`` above ``max_epochs``, an estimator without ``resource``
        or a search space that also sets it.
    """
    for name, value in (("min_epochs", min_epochs), ("max_epochs", max_epochs)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a whole number of epochs; got {value!r}.")
        if value < 1:
            raise ValueError(
                f"{name}={value!r} is below one epoch. Successive halving with "
                f"resource={resource!r} trains whole epochs: pass {name}=1 or more. To "
                "start the candidates on part of the data instead, use resource='n_samples' "
                "(the default of HalvingGridSearchCV).")
        if not isinstance(value, Integral) and not float(value).is_integer():
            raise ValueError(f"{name}={value!r} is not a whole number of epochs; round it, "
                             f"e.g. {name}={max(int(round(value)), 1)}.")
    if min_epochs > max_epochs:
        raise ValueError(f"min_epochs={min_epochs} is more than max_epochs={max_epochs}; the "
                         "first iteration must train for fewer epochs than the last.")
    if resource not in estimator.get_params():
        raise ValueError(
            f"{type(estimator).__name__} has no parameter {resource!r}; successive halving on "
            "epochs needs an estimator trained for that many epochs (CNNClassifier, "
            "CNNRegressor, FineTunedClassifier, FineTunedRegressor; in a pipeline "
            "'<step>__max_epochs').")
    spaces = params if isinstance(params, (list, tuple)) else [params or {}]
    if any(resource in space for space in spaces):
        raise ValueError(f"the search space sets {resource!r}, which successive halving "
                         "controls; remove it from the grid and pass max_epochs instead.")


def halving_search_cv(estimator, params, *, max_epochs, min_epochs=1, factor=3,
                      random=False, resource="max_epochs", **search_kwargs):
    """A successive-halving search whose resource is the number of training epochs.

    Parameters
    ----------
    estimator : estimator
        A skcnn estimator, or a pipeline holding one.
    params : dict or list of dict
        ``param_grid`` (``random=False``) or ``param_distributions``.
    max_epochs : int
        Epochs of the last iteration's candidates (the full training).
    min_epochs : int, default=1
        Epochs of every candidate in the first iteration.
    factor : int, default=3
        Each iteration keeps ``1 / factor`` of the candidates and trains them
        ``factor`` times longer.
    random : bool, default=False
        Sample candidates (:class:`~sklearn.model_selection.HalvingRandomSearchCV`)
        instead of trying the whole grid.
    resource : str, default='max_epochs'
        The epoch parameter (``'<step>__max_epochs'`` in a pipeline).
    **search_kwargs
        Passed on (``cv``, ``scoring``, ``n_jobs``, ``random_state``,
        ``n_candidates`` ...).

    Returns
    -------
    search : HalvingGridSearchCV or HalvingRandomSearchCV
        Not yet fitted.

    Examples
    --------
    >>> from skcnn import CNNClassifier
    >>> from skcnn.model_selection import halving_search_cv
    >>> search = halving_search_cv(CNNClassifier(verbose=0), {"learning_rate": [1e-3, 1e-2]},
    ...                            min_epochs=2, max_epochs=6)
    >>> search.min_resources, search.max_resources
    (2, 6)
    """
    check_epoch_budget(estimator, min_epochs, max_epochs, params, resource)
    if estimator.get_params().get(resource.replace("max_epochs", "warm_start")):
        warnings.warn(
            "warm_start=True does not carry weights between halving iterations: "
            "scikit-learn fits a fresh clone of each surviving candidate, which retrains "
            "from its first epoch.", UserWarning, stacklevel=2)
    search_cls = HalvingRandomSearchCV if random else HalvingGridSearchCV
    return search_cls(estimator, params, resource=resource, min_resources=int(min_epochs),
                      max_resources=int(max_epochs), factor=factor, **search_kwargs)
