"""The chart of a :func:`skcnn.compare` result: scores and time per model."""

import numpy as np

from ._figures import new_figure

__all__ = ["plot_comparison", "plot_train_sizes"]

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
    ax_score.set_yticks(positions, [_label(name, row) for name, (_, row)
                                    in zip(names, table.iterrows())])
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
        if "allotted_s" in table:  # what the budget allotted: a bracket at its seconds
            allotted = table["allotted_s"].to_numpy(dtype=float)
            given = timed & ~np.isnan(allotted)
            if given.any():
                ax_time.scatter(allotted[given], positions[given], marker="|", s=400,
                                color="#c0392b", zorder=3, label="seconds allotted by the budget")
        for pos, seconds in zip(positions[timed], total[timed]):
            label = f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds:.3f} s"
            ax_time.text(seconds * 1.1, pos, label, va="center", fontsize=8)
        smallest = max(float(np.nanmin(own[timed])), 1e-3)
        largest = np.nanmax(total)
        if "allotted_s" in table and table["allotted_s"].notna().any():
            largest = max(largest, float(table["allotted_s"].max()))
        ax_time.set_xlim(smallest / 3, largest * 6)
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


def _label(name, row):
    """The model's name, and below it what the budget gave it (epochs, input size) or,
    without a budget, what the network trained with."""
    epochs = row.get("epochs", float("nan"))
    if epochs is None or np.isnan(epochs):
        trained = row.get("trained")
        return f"{name}\n{trained}" if isinstance(trained, str) and trained else str(name)
    size = row.get("input_size", float("nan"))
    size = "" if size is None or np.isnan(size) else f", {size:.0f} px"
    return f"{name}\n{epochs:.0f} epochs{size}"


_LINE_COLORS = ("#3b75af", "#e1812c", "#519e3e", "#c53a32", "#8d69b8", "#84584e", "#d57fbe",
                "#7f7f7f", "#bcbc35", "#42bbcc")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def plot_train_sizes(result, metric=None):
    """Score and fit time against the training-set size: how much data each model needs.

    Parameters
    ----------
    result : ComparisonResult
        What ``skcnn.compare(..., train_sizes=[...])`` returned.
    metric : str, default=None
        Which score to show; the first one by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes sharing the x axis (mean training images per fold, log
        scale, ticks at the sizes): left, the score (mean and, shaded, ± std
        over the test folds), one line per model; right, the mean fit
        seconds per fold (log scale). Models that failed at a size have no
        point there.
    """
    table = result.train_sizes
    if table is None:
        raise ValueError("No training-set sizes: run compare(..., train_sizes=[0.1, 0.3, 1.0]).")
    metric = metric or result.scoring[0]
    if f"{metric}_mean" not in table:
        raise ValueError(f"No scores for metric {metric!r}; the result has "
                         f"{', '.join(map(repr, result.scoring))}.")
    fig = new_figure(12, 4.8)
    ax_score, ax_time = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    models = list(dict.fromkeys(table["model"]))
    for i, model in enumerate(models):
        rows = table[table["model"] == model].sort_values("n_train")
        n = rows["n_train"].to_numpy(dtype=float)
        mean = rows[f"{metric}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(rows[f"{metric}_std"].to_numpy(dtype=float))
        fit = rows["fit_time"].to_numpy(dtype=float)
        style = dict(color=_LINE_COLORS[i % len(_LINE_COLORS)],
                     marker=_MARKERS[i % len(_MARKERS)], markersize=5, linewidth=1.6)
        ax_score.plot(n, mean, label=model, **style)
        ax_score.fill_between(n, mean - std, mean + std, color=style["color"], alpha=0.12,
                              linewidth=0)
        ax_time.plot(n, fit, label=model, **style)
    sizes = table.groupby("train_size")["n_train"].first().sort_index()
    ticks = [f"{n:.0f}\n({fraction:g})" for fraction, n in sizes.items()]
    for ax in (ax_score, ax_time):
        ax.set_xscale("log")
        ax.set_xticks(sizes.to_numpy(dtype=float), ticks)
        ax.minorticks_off()
        ax.set_xlabel("training images per fold (fraction of the fold)")
        ax.grid(alpha=0.3)
        if len(sizes) > 1:
            lo, hi = float(sizes.iloc[0]), float(sizes.iloc[-1])
            ax.set_xlim(lo / 1.25, hi * 1.25)
    ax_score.set_ylabel(f"{metric} (mean ± std over {_n_splits(result)})")
    ax_score.set_title(f"Score on the same test {'fold' if len(result.splits) == 1 else 'folds'}")
    ax_time.set_yscale("log")
    ax_time.set_ylabel("fit seconds per fold (log scale)")
    ax_time.set_title("Fit time")
    handles, labels = ax_score.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(models), 7), fontsize=8,
               frameon=False)
    fig.suptitle(f"How much data does each model need? {result.n_samples} images, "
                 f"{len(result.classes)} classes; {result.split_description}", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _n_splits(result):
    k = len(result.splits)
    return "1 hold-out split" if k == 1 else f"{k} folds"
