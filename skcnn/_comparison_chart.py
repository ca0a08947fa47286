"""The chart of a :func:`skcnn.compare` result: scores and time per model."""

import numpy as np

from ._figures import new_figure

__all__ = ["plot_comparison"]

_OK, _FEATURES, _FAILED = "#3b75af", "#e1812c", "#999999"

#: How a metric is named on the score axis (others by their name).
_METRIC_LABELS = {"r2": "R²", "mae": "mean absolute error", "rmse": "root mean squared error"}


def plot_comparison(result, metric=None):
    """Scores (mean +/- std over the folds) beside the time each model took.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`skcnn.compare` returned.
    metric : str, default=None
        Which score to show; the first one by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes: left, horizontal bars of the score with error bars (the
        standard deviation over the folds); right, the total seconds each
        model needed (log scale), the one pretrained-feature extraction
        hatched on the feature-based models. Models that failed or were
        skipped are listed with their status instead of a bar.
    """
    table = result.table
    metric = metric or result.scoring[0]
    if f"{metric}_mean" not in table:
        raise ValueError(f"No scores for metric {metric!r}; the result has "
                         f"{', '.join(map(repr, result.scoring))}.")
    names = list(table["model"])
    n = len(names)
    fig = new_figure(11, 1.8 + 0.45 * max(n, 2))
    ax_score, ax_time = fig.subplots(1, 2, sharey=True,
                                     gridspec_kw={"width_ratios": [1.2, 1]})
    positions = np.arange(n)[::-1]  # first model on top
    means = table[f"{metric}_mean"].to_numpy(dtype=float)
    stds = table[f"{metric}_std"].to_numpy(dtype=float)
    ok = ~np.isnan(means)
    colors = [_FEATURES if inp == "features" else _OK for inp in table["input"]]

    ax_score.barh(positions[ok], means[ok], xerr=stds[ok], color=np.array(colors)[ok],
                  capsize=3, height=0.6, error_kw={"elinewidth": 1})
    low = np.nanmin(means - stds) if ok.any() else 0.0
    high = np.nanmax(means + stds) if ok.any() else 1.0
    span = max(high - low, 0.02)
    left = max(0.0, low - 0.25 * span) if 0.0 <= low <= 1.0 else low - 0.25 * span
    right = min(1.0, high + 0.1 * span) if high <= 1.0 else high + 0.1 * span
    if right <= left:
        right = left + 0.05
    ax_score.set_xlim(left, right)
    for pos, mean, good, status in zip(positions, means, ok, table["status"]):
        if good:  # the value inside the bar, by its base
            ax_score.text(left + 0.01 * (right - left), pos, f"{mean:.3f}", va="center",
                          fontsize=8, color="white", fontweight="bold")
        else:
            short = str(status) if len(str(status)) <= 60 else str(status)[:57] + "..."
            ax_score.text(left + 0.01 * (right - left), pos, short, va="center", fontsize=8,
                          color=_FAILED)
    ax_score.set_yticks(positions, names)
    ax_score.set_ylim(-0.6, n - 0.4)  # rows without a bar (failed, skipped) stay in view
    ax_score.set_xlabel(f"{_METRIC_LABELS.get(metric, metric)} (mean ± std over "
                        f"{_n_splits(result)})")
    ax_score.grid(axis="x", alpha=0.3)
    ax_score.set_title("Score")

    total = table["total_time"].to_numpy(dtype=float)
    extract = np.nan_to_num(table["extract_time"].to_numpy(dtype=float), nan=0.0)
    timed = ~np.isnan(total)
    if timed.any():
        own = np.clip(total - extract, 1e-3, None)
        ax_time.barh(positions[timed], own[timed], color=np.array(colors)[timed], height=0.6,
                     label="fit + predict, all folds (orange: on pretrained features)")
        shared = timed & (extract > 0)
        if shared.any():
            ax_time.barh(positions[shared], extract[shared], left=own[shared], height=0.6,
                         color="white", edgecolor="#555555", hatch="///",
                         label="shared input prepared once (features)")
        ax_time.set_xscale("log")
        for pos, seconds in zip(positions[timed], total[timed]):
            label = f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds:.3f} s"
            ax_time.text(seconds * 1.1, pos, label, va="center", fontsize=8)
        smallest = max(float(np.nanmin(own[timed])), 1e-3)
        ax_time.set_xlim(smallest / 3, np.nanmax(total) * 6)
        handles, labels = ax_time.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower right", ncol=2, fontsize=7, frameon=False)
    ax_time.set_xlabel("seconds (log scale)")
    ax_time.grid(axis="x", alpha=0.3, which="major")
    ax_time.set_title("Time")
    what = ("a continuous target" if result.classes is None  # regression
            else f"{len(result.classes)} classes")
    fig.suptitle(f"{result.n_samples} images, {what}; {result.split_description}", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _n_splits(result):
    k = len(result.splits)
    return "1 hold-out split" if k == 1 else f"{k} folds"
