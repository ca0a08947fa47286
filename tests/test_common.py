"""scikit-learn's own estimator checks on every public estimator (fast settings)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcnn import CNNClassifier, ImageLoader, PretrainedFeatures

# Fast settings: scikit-learn's checks feed tiny tabular arrays, read as 1xD
# strips (or 1xSxS images for square D), so use 'same' padding.
FAST_CNN = CNNClassifier(filters=(8,), kernel_size=3, padding="same", hidden_units=(32,),
                         max_epochs=40, batch_size=32, learning_rate=0.01, verbose=0,
                         random_state=0)

# The default backbone (weights ship with the package) at a small input size.
FAST_FEATURES = PretrainedFeatures(input_size=32, batch_size=16, num_workers=0, verbose=0)

_BATCH_NUMERICS = (
    "float32 convolution kernels block differently for different batch sizes, so an image's "
    "outputs move by ~1e-6 relative with the batch it lands in; the check demands 1e-7 "
    "(float64 estimators pass it)"
)

# Each expected failure with its reason (never skipped silently).
EXPECTED_FAILURES = {
    PretrainedFeatures: {
        "check_methods_subset_invariance": _BATCH_NUMERICS,
        "check_methods_sample_order_invariance": _BATCH_NUMERICS,
    },
    CNNClassifier: {
        "check_sample_weight_equivalence_on_dense_data": (
            "mini-batch SGD: a repeated image fills two batch slots and shifts the shuffled "
            "order, so weight 2 and duplication give close but not identical networks"
        ),
        "check_methods_subset_invariance": _BATCH_NUMERICS,
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator), {})


@parametrize_with_checks([FAST_CNN, FAST_FEATURES, ImageLoader(size=8)], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
