"""What :func:`~skcnn.compare` returns: :class:`ComparisonResult`, the table and its renderings.

The tidy table (one row per model) is built here from the records of
:func:`~skcnn.comparison._run.run_models`; the result renders it as aligned
text, Markdown, CSV or JSON, and draws it through :func:`skcnn.plotting.plot_comparison`.
"""

import json
import math
import os

import numpy as np

__all__ = ["ComparisonResult", "comparison_table"]


def comparison_table(records, scoring):
    """The tidy DataFrame of :attr:`ComparisonResult.table`: one row per record, fixed columns."""
    import pandas as pd  # imported here so that ``import skcnn`` stays light

    columns = (["model"] + [f"{m}_{s}" for m in scoring for s in ("mean", "std")]
               + ["fit_time", "predict_time", "extract_time", "total_time", "images_per_s",
                  "device", "n_params", "trained", "input", "status"])
    table = pd.DataFrame.from_records(records).reindex(columns=columns)
    table["trained"] = [v if isinstance(v, str) else "" for v in table["trained"]]
    for column in columns:
        if column not in ("model", "device", "trained", "input", "status"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def _fmt_seconds(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _fmt_count(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}" if value < 100 * scale else \
                f"{value / scale:.0f}{unit}"
    return f"{value:.0f}"


class ComparisonResult:
    """What :func:`~skcnn.compare` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (in the order they ran): ``model``; for each
        metric ``<metric>_mean`` and ``<metric>_std`` over the folds;
        ``fit_time`` and ``predict_time`` (mean seconds per fold; predict
        includes scoring the test fold); ``extract_time`` (seconds to prepare
        the model's shared input once for all images: the pretrained
        features, or images resized for the pixel models and the CNN; NaN
        for models fitted on ``X`` as given); ``total_time`` (all folds, plus
        ``extract_time``: what running this model alone costs);
        ``images_per_s`` (inference throughput, extraction included);
        ``device``; ``n_params`` (learned parameters, see
        :func:`~skcnn.comparison.count_parameters`); ``input`` (what the
        model was fitted on: 'raw', 'small', 'pixels', 'features'); ``status`` ('ok',
        ``'failed: <error>'`` or ``'skipped: <reason>'``).
    scores : dict
        Model name -> metric -> array of per-fold scores (models that ran).
    splits : list of (train_indices, test_indices)
        The splits every model used.
    scoring : list of str
        The metric names.
    classes : ndarray or None
        The original labels; models saw them encoded as 0..K-1. None for
        regression.
    task : {'classification', 'regression'}
        What was compared (regression for a continuous target).
    features : dict or None
        The one pretrained-feature extraction: backbone, input_size,
        n_images, n_features, seconds, images_per_s, device.
    errors : dict
        Model name -> full traceback of its failure.
    model_specs : dict
        Model name -> the :class:`ModelSpec` that ran (estimator and input kind).
    input_settings : dict
        How each model's input was made from the images (``small``: size and
        mode of the small images; ``features``: PretrainedFeatures' parameters),
        so that :func:`skcnn.io.refit_best` can rebuild a model that takes images.
    budget : Budget or None
        When the networks were sized by a time budget: its seconds and, per
        network, the :class:`~skcnn.comparison._budget.Allotment` (share,
        epochs, input size, planned and used seconds). The table then has
        the columns ``epochs``, ``input_size``, ``allotted_s`` and ``used_s``
        (NaN for the models the budget does not size).
    train_sizes : pandas.DataFrame or None
        With ``compare(..., train_sizes=...)``: one row per model and
        training-set size (``model``, ``train_size``, ``n_train``, the
        scores, ``fit_time``, ``status``); drawn by :meth:`plot_train_sizes`.
    """

    def __init__(self, *, table, scores, splits, scoring, classes, n_samples, split_description,
                 features=None, errors=None, small_images=None, model_specs=None,
                 input_settings=None, task="classification", target=None, budget=None,
                 train_sizes=None):
        self.table = table
        self.scores = scores
        self.splits = splits
        self.scoring = scoring
        self.classes = classes
        self.n_samples = n_samples
        self.split_description = split_description
        self.features = features
        self.errors = errors or {}
        self.small_images = small_images
        self.model_specs = model_specs or {}
        self.input_settings = input_settings or {}
        self.task = task
        self._target = target  # regression: the targets, for the notes
        self.budget = budget
        self.train_sizes = train_sizes

    # ------------------------------------------------------------------ display
    def _display(self, markdown=False):
        """Header and rows of strings for the text and Markdown tables."""
        pm = " ± " if markdown else " +/- "
        header = ["model", *self.scoring, "fit s", "predict s", "extract s", "total s",
                  "images/s", "device", "params", "status"]
        rows = []
        for _, row in self.table.iterrows():
            cells = [str(row["model"])]
            for metric in self.scoring:
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append("-" if math.isnan(mean) else f"{mean:.4f}{pm}{std:.4f}")
            cells += [_fmt_seconds(row["fit_time"]), _fmt_seconds(row["predict_time"]),
                      _fmt_seconds(row["extract_time"]), _fmt_seconds(row["total_time"]),
                      _fmt_count(row["images_per_s"]),
                      "-" if not isinstance(row["device"], str) else row["device"],
                      _fmt_count(row["n_params"]), str(row["status"])]
            rows.append(cells)
        if "epochs" in self.table and self.table["epochs"].notna().any():
            header.insert(-1, "given")  # what the budget gave each network, before status
            for row, (_, values) in zip(rows, self.table.iterrows()):
                row.insert(-1, _given(values))
        elif "trained" in self.table and (self.table["trained"] != "").any():
            header.insert(-1, "trained")  # the networks' epochs, input size, recipe choice
            for row, (_, values) in zip(rows, self.table.iterrows()):
                row.insert(-1, values["trained"] if isinstance(values["trained"], str)
                           and values["trained"] else "-")
        return header, rows

    def notes(self):
        """Lines that explain the table: splits, data, the one feature extraction."""
        if self.task == "regression":
            from ._regression import target_summary

            what = target_summary(self._target)
        else:
            what = f"{len(self.classes)} classes"
        lines = [f"{self.n_samples} images, {what}; {self.split_description}; "
                 "the same splits for every model."]
        if self.features:
            f = self.features
            users = [m for m, i in zip(self.table["model"], self.table["input"]) if i == "features"]
            lines.append(
                f"Pretrained features: {f['backbone']} at {f['input_size']}, {f['n_features']} per "
                f"image, extracted once for all {f['n_images']} images in {f['seconds']:.1f} s "
                f"({f['images_per_s']:.0f} images/s, {f['device']}), shared by "
                f"{len(users)} model(s) in every fold (their 'extract s'; the frozen backbone's "
                f"{_fmt_count(f['backbone_parameters'])} parameters are not counted in 'params').")
        if self.small_images and self.small_images.get("resized"):
            lines.append("The CNN from scratch and the pixel models saw the images resized to "
                         f"{'x'.join(map(str, self.small_images['size']))}.")
        if self.budget is not None:
            lines.append(self.budget.describe() + " 'given': epochs, input size, seconds "
                         "used of those allotted (calibration included).")
        if self.train_sizes is not None:
            sizes = ", ".join(f"{v:g}" for v in sorted(set(self.train_sizes["train_size"])))
            lines.append(f"Also fitted on nested stratified subsets of each training fold "
                         f"(sizes {sizes}; same test folds): see train_sizes; this table is "
                         "the largest size.")
        lines.append("Times: fit/predict are mean seconds per fold; total is all folds plus the "
                     "extraction; images/s is inference throughput including extraction.")
        return lines

    def to_text(self, max_status=48):
        """The table as aligned plain text, with notes below it."""
        header, rows = self._display()
        rows = [r[:-1] + [r[-1] if len(r[-1]) <= max_status else r[-1][:max_status - 3] + "..."]
                for r in rows]
        widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
        device = header.index("device")
        left = {0, device, len(header) - 1}  # model, device, status (and given)
        left |= {i for i, h in enumerate(header) if h in ("given", "trained")}

        def line(cells):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
        return "\n".join(out + [""] + self.notes())

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return f"<ComparisonResult: {len(self.table)} models, {self.split_description}>"

    def to_markdown(self, path=None):
        """The table as GitHub-flavoured Markdown (written to ``path`` when given)."""
        header, rows = self._display(markdown=True)

        def esc(cell):
            return str(cell).replace("|", "\\|").replace("\n", " ")

        device = header.index("device")
        right = [i not in (0, device, len(header) - 1) and header[i] not in ("given", "trained")
                 for i in range(len(header))]
        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        text = "\n".join(lines + [""] + [f"{line}  " for line in self.notes()]) + "\n"
        return _write(text, path)

    def to_csv(self, path=None):
        """The tidy table as CSV (written to ``path`` when given)."""
        return _write(self.table.to_csv(index=False), path)

    def to_dict(self):
        """Everything as plain Python types (NaN as None)."""
        def clean(value):
            if isinstance(value, (np.integer,)):
                return int(value)
            if isinstance(value, (float, np.floating)):
                return None if math.isnan(value) else float(value)
            if isinstance(value, np.ndarray):
                return [clean(v) for v in value.tolist()]
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return {
            "models": [clean(r) for r in self.table.to_dict(orient="records")],
            "fold_scores": clean(self.scores),
            "scoring": list(self.scoring),
            "task": self.task,
            "classes": None if self.classes is None else [
                c.item() if hasattr(c, "item") else c for c in self.classes],
            "n_samples": self.n_samples,
            "splits": self.split_description,
            "features": clean(self.features),
            "budget": None if self.budget is None else clean(_budget_dict(self.budget)),
            "train_sizes": (None if self.train_sizes is None
                            else [clean(r) for r in self.train_sizes.to_dict(orient="records")]),
            "notes": self.notes(),
        }

    def to_json(self, path=None, indent=2):
        """:meth:`to_dict` as JSON (written to ``path`` when given)."""
        return _write(json.dumps(self.to_dict(), indent=indent, default=str) + "\n", path)

    def plot(self, metric=None):
        """Scores with error bars beside the time each model took; a matplotlib Figure."""
        from ..plotting import plot_comparison

        return plot_comparison(self, metric=metric)

    def plot_train_sizes(self, metric=None):
        """Score and fit time against the training-set size, one line per model (a Figure).

        Needs ``compare(..., train_sizes=...)``.
        """
        from ..plotting import plot_train_sizes

        return plot_train_sizes(self, metric=metric)

    def train_sizes_text(self, metric=None):
        """The training-set-size table as aligned text: one row per model, one column per size."""
        if self.train_sizes is None:
            raise ValueError("No training-set sizes: run compare(..., train_sizes=[0.1, 0.3, 1.0]).")
        metric = metric or self.scoring[0]
        table = self.train_sizes
        sizes = sorted(set(table["train_size"]))
        header = ["model"] + [f"{s:g} (n={table.loc[table['train_size'] == s, 'n_train'].iloc[0]:.0f})"
                              for s in sizes]
        rows = []
        for model in dict.fromkeys(table["model"]):
            cells = [str(model)]
            for size in sizes:
                row = table[(table["model"] == model) & (table["train_size"] == size)].iloc[0]
                mean = row[f"{metric}_mean"]
                cells.append("-" if math.isnan(mean) else
                             f"{mean:.4f} ({_fmt_seconds(row['fit_time'])} s)")
            rows.append(cells)
        widths = [max(len(c) for c in column) for column in zip(header, *rows)]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
                 for cells in [header, ["-" * w for w in widths], *rows]]
        return "\n".join(lines + ["", f"{metric} (mean over {len(self.splits)} test fold(s)) and "
                                   "mean fit seconds per fold, by fraction of each training fold "
                                   "(n: mean training images)."])

    def save(self, path):
        """Write the table (``.md``, ``.csv``, ``.json``, ``.txt``) or the chart (``.png``,
        ``.svg``, ``.pdf``) to ``path``, the format chosen by its extension."""
        ext = os.path.splitext(str(path))[1].lower()
        if ext in (".md", ".markdown"):
            self.to_markdown(path)
        elif ext == ".csv":
            self.to_csv(path)
        elif ext == ".json":
            self.to_json(path)
        elif ext == ".txt":
            _write(self.to_text() + "\n", path)
        elif ext in (".png", ".svg", ".pdf"):
            self.plot().savefig(path, dpi=120 if ext == ".png" else None, bbox_inches="tight")
        else:
            raise ValueError(f"Cannot tell the format of {str(path)!r} from its extension; use "
                             ".md, .csv, .json, .txt (the table) or .png, .svg, .pdf (the chart).")
        return path


def _given(row):
    """``'12 ep 64px 81/95 s'``: what the budget gave a network, or '-'."""
    if math.isnan(row["epochs"]):
        return "-"
    size = "" if math.isnan(row["input_size"]) else f" {row['input_size']:.0f}px"
    used = "?" if math.isnan(row["used_s"]) else f"{row['used_s']:.0f}"
    return f"{row['epochs']:.0f} ep{size} {used}/{row['allotted_s']:.0f} s"


def _budget_dict(budget):
    from dataclasses import asdict

    return {"seconds": budget.seconds, "default": budget.default,
            "calibration": budget.calibration,
            "allotments": {m: asdict(a) for m, a in budget.allotments.items()}}


def _write(text, path):
    if path is None:
        return text
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return text
