"""Wall time of a grid search over an SVC on pretrained features, with and without the feature cache.

In one run, on scikit-image's LFW subset (200 grayscale 25x25 images; the
first 100 are faces, label 1, the rest are not, label 0):

(a) ``GridSearchCV(make_pipeline(PretrainedFeatures(...), SVC()))`` over 10
    values of ``svc__C`` x 5 folds (50 fits and the refit), without a cache:
    the backbone runs over the training and test images of every fit;
(b) the same search with ``PretrainedFeatures(cache=<empty temporary folder>)``:
    each image is computed once, and every other fit reads the cache;
(c) the same search again on the now warm cache (what a second run, or a
    restarted process, pays).

Prints the wall time of each, the ratio a/b (goal: >= 5), the images the
backbone computed in each (counted by skcnn.pretrained.cache.images_computed)
and the forward passes (batches, counted with a hook on the network), and
checks that both searches pick the same C with the same scores.

The network is fed 64x64 inputs by default (``--input-size 64``) rather than
the backbone's 224: without the cache, 51 fits at 224 px take many minutes on
two CPU cores. A larger input size makes the uncached search slower and the
ratio larger. torch uses ``--threads`` threads (1 by default: on a small
shared machine, threads that spin-wait for each other are much slower).

    python benchmarks/grid_search_cache.py [--input-size 64] [--threads 1]
"""

import argparse
import tempfile
import time
import warnings

import numpy as np
import torch
from skimage import data as skdata
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skcnn import PretrainedFeatures
from skcnn.pretrained import cache as feature_cache
from skcnn.pretrained import features as features_module


class ForwardCounter:
    """Counts forward passes and rows through every PretrainedFeatures network."""

    def __init__(self):
        self.batches = self.rows = 0
        self._run_model = features_module.run_model
        features_module.run_model = self._counting

    def _counting(self, model, *args, **kwargs):
        def hook(_module, inputs):
            self.batches += 1
            self.rows += inputs[0].shape[0]

        handle = model.register_forward_pre_hook(hook)
        try:
            return self._run_model(model, *args, **kwargs)
        finally:
            handle.remove()

    def reset(self):
        self.batches = self.rows = 0
        feature_cache.reset_images_computed()


def search(X, y, args, counter, cache=None):
    features = PretrainedFeatures(input_size=args.input_size, batch_size=args.batch_size,
                                  num_workers=0, verbose=0, cache=cache)
    grid = GridSearchCV(make_pipeline(features, SVC()),
                        {"svc__C": np.logspace(-2, 3, args.candidates)},
                        cv=StratifiedKFold(args.folds, shuffle=True, random_state=0))
    counter.reset()
    start = time.perf_counter()
    grid.fit(X, y)
    seconds = time.perf_counter() - start
    return grid, seconds, feature_cache.images_computed(), counter.batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=64,
                        help="side of the network's input (default 64; the backbone's own is 224)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=10, help="values of svc__C")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)

    X = skdata.lfw_subset()
    y = np.r_[np.ones(100, int), np.zeros(len(X) - 100, int)]
    n_fits = args.candidates * args.folds + 1
    print(f"{len(X)} images {X.shape[1]}x{X.shape[2]}, efficientnet_lite0 at "
          f"{args.input_size}x{args.input_size}, batch_size={args.batch_size}, "
          f"{args.threads} torch thread(s); GridSearchCV: {args.candidates} x svc__C, "
          f"{args.folds} folds ({n_fits} fits with the refit)")

    counter = ForwardCounter()
    # Warm-up outside the timings: imports, first kernel initialisation.
    PretrainedFeatures(input_size=args.input_size, num_workers=0, verbose=0).fit(X[:8]) \
        .transform(X[:8])

    plain, t_plain, n_plain, b_plain = search(X, y, args, counter)
    with tempfile.TemporaryDirectory(prefix="skcnn-cache-bench-") as folder:
        cached, t_cached, n_cached, b_cached = search(X, y, args, counter, cache=folder)
        _, t_warm, n_warm, b_warm = search(X, y, args, counter, cache=folder)

    rows = [("without cache", t_plain, n_plain, b_plain),
            ("with cache (empty at start)", t_cached, n_cached, b_cached),
            ("with cache (warm, second search)", t_warm, n_warm, b_warm)]
    print(f"\n{'':34}{'wall time':>12}{'images computed':>18}{'forward passes':>16}")
    for name, seconds, images, batches in rows:
        print(f"{name:34}{seconds:>11.2f}s{images:>18}{batches:>16}")
    ratio = t_plain / t_cached
    print(f"\nspeed-up with the cache: {ratio:.1f}x (goal >= 5x: "
          f"{'met' if ratio >= 5 else 'NOT met'}); warm cache: {t_plain / t_warm:.1f}x")
    print(f"distinct images: {len(np.unique(X.reshape(len(X), -1), axis=0))}; images computed "
          f"without the cache: {n_plain} = {n_fits} fits x {len(X)} (train + test of each)")
    diff = np.abs(plain.cv_results_["mean_test_score"]
                  - cached.cv_results_["mean_test_score"]).max()
    print(f"same best C: {plain.best_params_ == cached.best_params_} "
          f"(C={plain.best_params_['svc__C']:.3g}, CV accuracy {plain.best_score_:.3f}); "
          f"max |mean_test_score difference|: {diff:.3g}")


if __name__ == "__main__":
    main()
