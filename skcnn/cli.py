"""The ``skcnn`` command line: ``compare`` (the main job), ``digits``, ``predict``, ``architectures``,
``doctor``.

Subcommands import what they need when they run: this module and the parser
import neither torch nor anything else that ``skcnn doctor`` may find missing.

Every error ends the command with a one-line message on stderr and a non-zero
exit status, never a traceback; ``--debug`` (before or after the subcommand)
shows the traceback instead.
"""

import argparse
import sys

__all__ = ["main", "build_parser"]


def _one_line(message):
    """``message`` (an exception or text) on one line: newlines and runs of spaces collapsed."""
    text = " ".join(str(message).split())
    if isinstance(message, MemoryError):
        text = "out of memory" + (f" ({text})" if text else "")
    return text or type(message).__name__


def _error(command, message, args=None):
    """Print ``skcnn COMMAND: error: MESSAGE`` on one line; with ``--debug``, re-raise.

    Called from an ``except`` block, ``--debug`` re-raises the exception being
    handled, so its traceback shows.
    """
    if args is not None and getattr(args, "debug", False) and sys.exc_info()[1] is not None:
        raise  # noqa: PLE0704 - the exception being handled, for its traceback
    print(f"skcnn {command}: error: {_one_line(message)}", file=sys.stderr)


def _cmd_digits(args):
    from .demo import digits_cv_report

    print(digits_cv_report(cv=args.cv, quick=args.quick, random_state=args.random_state,
                           verbose=args.verbose))
    return 0


def _cmd_compare(args):
    import os
    import warnings

    import numpy as np

    from .comparison import compare
    from .datasets import load_dataset

    def fail(message):
        _error("compare", message, args)
        return 2

    out_formats = (".md", ".markdown", ".csv", ".json", ".txt")
    if args.output and os.path.splitext(args.output)[1].lower() not in out_formats:
        return fail(f"--output {args.output!r}: use a file ending in .md, .csv, .json or .txt.")
    if args.save_best:
        from .exceptions import ModelFileError
        from .io.persist import _check_target

        try:
            _check_target(args.save_best)  # before the comparison, not after it
        except ModelFileError as exc:
            return fail(f"--save-best: {exc}")
    plot = None if args.no_plot else (args.plot or "skcnn-compare.png")
    if plot and os.path.splitext(plot)[1].lower() not in (".png", ".svg", ".pdf"):
        return fail(f"--plot {plot!r}: use a file ending in .png, .svg or .pdf.")
    for option, path in (("--output", args.output), ("--plot", plot)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):  # checked now, not after the whole run
            return fail(f"{option} {path!r}: the folder {folder!r} does not exist; create it "
                        "first or write somewhere else.")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.text_column is not None:  # a table of texts
                from .comparison._text import load_text_table

                X, y, description = load_text_table(args.dataset, args.text_column,
                                                    args.label_column)
            else:
                X, y, description = load_dataset(args.dataset)
        for w in caught:
            print(f"skcnn compare: warning: {w.message}", file=sys.stderr)
    except (ValueError, OSError, ImportError) as exc:
        return fail(exc)
    cv = args.cv if args.cv is not None else (3 if args.quick else 5)
    n = len(y)
    if args.quick and n > 300:
        # A stratified subset of 300 images: a smoke test, not a result.
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(n), train_size=300,
                                   stratify=None if _regression(y, args.task) else y,
                                   random_state=args.random_state)
        keep = np.sort(keep)
        X = X[keep] if hasattr(X, "shape") else [X[i] for i in keep]
        y = np.asarray(y)[keep]
        kind = "a random" if _regression(y, args.task) else "a stratified"
        description += f", {kind} subset of 300 of its {n} images (--quick)"
    if args.verbose:
        print(f"skcnn compare: {description}", file=sys.stderr, flush=True)
    try:
        task = None if args.task == "auto" else args.task
        result = compare(X, y, models=args.models, task=task, cv=cv, test_size=args.test_size,
                         random_state=args.random_state, n_jobs=args.n_jobs,
                         verbose=args.verbose, backbone=args.backbone, device=args.device,
                         quick=args.quick, cache=args.cache, budget=args.budget,
                         train_sizes=args.train_sizes)
    except (ValueError, TypeError, OSError) as exc:
        return fail(exc)
    print(f"Data: {description}")
    print(result.to_text())
    statuses = [str(status) for status in result.table["status"]]
    for model, status in zip(result.table["model"], statuses):
        if status.startswith("failed"):  # the table cuts long reasons: here in full
            print(f"skcnn compare: {model} {status}", file=sys.stderr)
    if not any(status == "ok" for status in statuses):
        print("skcnn compare: error: no model could be fitted (see the reasons above).",
              file=sys.stderr)
        return 1
    if args.output:
        result.save(args.output)
        print(f"Table written to {os.path.abspath(args.output)}")
    if plot:
        result.save(plot)
        print(f"Chart written to {os.path.abspath(plot)}")
    if result.train_sizes is not None:
        _write_train_sizes(result, plot, args.output)
    if args.save_best:
        return _save_best(result, X, y, args.save_best, fail)
    return 0


def _regression(y, task):
    """Whether ``compare`` will treat ``y`` as a regression target (``--task``)."""
    from .comparison._regression import resolve_task

    return resolve_task(y, None if task == "auto" else task) == "regression"


def _write_train_sizes(result, plot, output):
    """``--train-sizes``: print the table; write it (CSV) and its chart beside the others."""
    import os

    print()
    print("Training-set sizes:")
    print(result.train_sizes_text())
    stem = os.path.splitext(plot or output or "skcnn-compare.png")[0]
    table_path = f"{stem}-train-sizes.csv"
    result.train_sizes.to_csv(table_path, index=False)
    print(f"Training-set-size table written to {os.path.abspath(table_path)}")
    if plot:
        chart = f"{stem}-train-sizes{os.path.splitext(plot)[1]}"
        fig = result.plot_train_sizes()
        fig.savefig(chart, dpi=120 if chart.endswith(".png") else None, bbox_inches="tight")
        print(f"Training-set-size chart written to {os.path.abspath(chart)}")


def _budget(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds > 0")
    return value


def _train_sizes(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give fractions of the training fold separated by commas, "
            "e.g. 0.1,0.3,1.0") from None
    bad = [v for v in values if not 0 < v <= 1]
    if not values or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: each size is a fraction of the training fold in (0, 1], "
            "e.g. 0.1,0.3,1.0")
    return values


def _save_best(result, X, y, path, fail):
    """``--save-best``: refit the best model of the table on all the data and save it."""
    import os

    from .io import save
    from .io.refit import refit_best

    try:
        best = refit_best(result, X, y)
        save(best.estimator, path)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        return fail(f"--save-best: {exc}")
    print(best.describe())
    print(f"Model saved to {os.path.abspath(path)} (skcnn predict --model {path} IMAGE...)")
    return 0


def _test_size(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value >= 1 and value == int(value):
        return int(value)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a fraction in (0, 1) or a number of images >= 1")
    return value


def _cmd_architectures(args):
    from .scratch import list_architectures

    for name in list_architectures():
        print(name)
    return 0


def _cmd_predict(args):
    import json

    from .exceptions import InputError

    if args.model:
        return _predict_with_model(args)
    from .pretrained.predict import classify_images

    try:
        results = classify_images(args.images, backbone=args.backbone, top=args.top,
                                  device=args.device, verbose=0)
    except (InputError, ValueError, OSError) as exc:
        _error("predict", exc, args)
        return 2
    if args.json:
        print(json.dumps([
            {"image": str(path),
             "predictions": [{"class": name, "probability": round(float(p), 6)} for name, p in top]}
            for path, top in zip(args.images, results)], indent=2))
        return 0
    for path, top in zip(args.images, results):
        print(path)
        width = max(len(name) for name, _ in top)
        for rank, (name, p) in enumerate(top, 1):
            print(f"  {rank}. {name:{width}s}  {100 * p:5.1f}%")
    return 0


def _predict_with_model(args):
    """``skcnn predict --model FILE``: classify images with a model saved by skcnn.save."""
    import json

    from .exceptions import InputError
    from .io import load
    from .io.refit import predict_images

    try:
        rows = predict_images(load(args.model), args.images, top=args.top)
    except (InputError, ValueError, TypeError, OSError, ImportError) as exc:
        _error("predict", exc, args)
        return 2
    if args.json:
        print(json.dumps([
            {"image": str(path), "prediction": row["prediction"],
             "predictions": [{"class": label, "probability": round(p, 6)}
                             for label, p in row["top"]]}
            for path, row in zip(args.images, rows)], indent=2, default=str))
        return 0
    for path, row in zip(args.images, rows):
        print(f"{path}: {row['prediction']}")
        if row["top"]:
            width = max(len(str(label)) for label, _ in row["top"])
            for rank, (label, p) in enumerate(row["top"], 1):
                print(f"  {rank}. {str(label):{width}s}  {100 * p:5.1f}%")
    return 0


def _cmd_doctor(args):
    from .doctor import run

    return run(json_output=args.json)


def build_parser():
    """The argument parser (subcommands are added here as features land)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skcnn", description="Convolutional neural networks as scikit-learn estimators.")
    parser.add_argument("--version", action="version", version=f"skcnn {__version__}")
    debug_help = "on an error, show the Python traceback instead of a one-line message"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    digits = sub.add_parser(
        "digits", help="cross-validate a CNN and an SVC on scikit-learn's digits",
        description="Train CNNClassifier on scikit-learn's digits (shipped with scikit-learn) "
                    "and print its cross-validated accuracy next to an RBF SVC's.")
    digits.add_argument("--cv", type=int, default=5, help="number of stratified folds (default 5)")
    digits.add_argument("--quick", action="store_true",
                        help="fewer epochs and a subset: a smoke test in seconds")
    digits.add_argument("--random-state", type=int, default=0)
    digits.add_argument("--verbose", type=int, default=1, help="0 hides progress bars")
    digits.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=debug_help)
    digits.set_defaults(func=_cmd_digits)

    predict = sub.add_parser(
        "predict", help="top ImageNet classes of images, or a saved model's predictions",
        description="Classify images with a pretrained ImageNet network and print the top "
                    "classes with their probabilities; with --model, classify them with a "
                    "model saved by skcnn.save (e.g. by skcnn compare --save-best).")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--model", metavar="FILE", default=None,
                         help="a model file written by skcnn.save or skcnn compare --save-best "
                              "(instead of the ImageNet classes of --backbone)")
    predict.add_argument("--backbone", default="efficientnet_lite0",
                         help="backbone name (default: efficientnet_lite0, works offline)")
    predict.add_argument("--top", type=int, default=5, help="number of classes to show")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--device", default="auto")
    predict.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=debug_help)
    predict.set_defaults(func=_cmd_predict)

    try:
        from .comparison import DEFAULT_MODELS, MODEL_DESCRIPTIONS, REGRESSION_MODELS
    except Exception:  # numpy or scikit-learn missing or broken: `skcnn doctor` must still work
        models_help = "see `skcnn doctor` for what is missing"
    else:
        models_help = ("; ".join(f"{name}: {MODEL_DESCRIPTIONS[name]}" for name in DEFAULT_MODELS)
                       + f". Regression (a continuous target): {', '.join(REGRESSION_MODELS)}")
    comp = sub.add_parser(
        "compare", help="CNNs vs SVM vs XGBoost on the same splits: a table and a chart",
        description="Cross-validate a CNN from scratch, a fine-tuned pretrained CNN, and SVC, "
                    "logistic regression and XGBoost on pretrained features and on raw pixels, "
                    "all on the same stratified folds; print the table and write a chart. "
                    "Without arguments: scikit-learn's digits, a few minutes on 2 CPU cores.")
    comp.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                      help="digits (default), lfw-faces, sentiment-sentences (2,000 review "
                           "sentences that ship with skcnn: the text models), digits-rotation "
                           "(digits rotated by a random angle, the target: regression models), "
                           "a folder with one "
                           "subfolder of images per class, or an .npz file with arrays X and y")
    comp.add_argument("--text-column", default=None, metavar="NAME",
                      help="--dataset is a .csv/.tsv/.parquet table of texts: the column that "
                           "holds them (text models: textcnn, tfidf+svc, tfidf+logreg, "
                           "tfidf+xgboost, textcnn-features+svc)")
    comp.add_argument("--label-column", default="label", metavar="NAME",
                      help="with --text-column: the column of the labels (default 'label')")
    comp.add_argument("--models", default=None, metavar="NAMES",
                      help=f"comma-separated subset of the models (default: all). {models_help}")
    comp.add_argument("--task", default="auto", choices=("auto", "classification", "regression"),
                      help="auto (default): regression when the target is continuous (floats "
                           "that are not all whole numbers: regression models, KFold splits, "
                           "R², MAE and RMSE), else classification")
    comp.add_argument("--cv", type=int, default=None,
                      help="number of stratified folds (default 5; 3 with --quick; regression: "
                           "shuffled KFold)")
    comp.add_argument("--test-size", type=_test_size, default=None, metavar="FRACTION|N",
                      help="a single stratified hold-out split of this size instead of CV")
    comp.add_argument("--backbone", default="efficientnet_lite0",
                      help="pretrained backbone (default: efficientnet_lite0, works offline)")
    comp.add_argument("--output", metavar="FILE",
                      help="also write the table to FILE (.md, .csv, .json or .txt)")
    comp.add_argument("--plot", metavar="FILE", default=None,
                      help="where to write the chart (.png, .svg, .pdf; default "
                           "skcnn-compare.png in the current folder)")
    comp.add_argument("--no-plot", action="store_true", help="do not write a chart")
    comp.add_argument("--save-best", metavar="FILE", default=None,
                      help="refit the best model of the table on all the data and save it to "
                           "FILE with skcnn.save (e.g. model.skcnn; use it with skcnn predict "
                           "--model FILE)")
    comp.add_argument("--budget", type=_budget, default=None, metavar="SECONDS",
                      help="seconds for training the networks (cnn, finetuned), all folds: "
                           "each gets the epochs and input size that fit its share on this "
                           "machine (default: none, the fixed settings; classification only)")
    comp.add_argument("--train-sizes", type=_train_sizes, default=None, metavar="FRACTIONS",
                      help="also fit every model on growing stratified subsets of each "
                           "training fold, e.g. 0.1,0.3,1.0: writes a data-efficiency chart "
                           "and table (score and fit time against training-set size)")
    comp.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    comp.add_argument("--quick", action="store_true",
                      help="300 images, 3 folds, fewer epochs and trees: a smoke test")
    comp.add_argument("--cache", default=None, metavar="DIR",
                      help="feature cache folder for PretrainedFeatures, when supported")
    comp.add_argument("--n-jobs", type=int, default=None,
                      help="run the folds of each model in this many processes")
    comp.add_argument("--random-state", type=int, default=0)
    comp.add_argument("--verbose", type=int, default=1, help="0 hides progress (stderr)")
    comp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help=debug_help)
    comp.set_defaults(func=_cmd_compare)

    archs = sub.add_parser("architectures", help="list installed architecture plugins")
    archs.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=debug_help)
    archs.set_defaults(func=_cmd_architectures)

    doctor = sub.add_parser(
        "doctor", help="check that this environment is ready for skcnn",
        description="Check the installed packages against the versions skcnn declares (required "
                    "and per extra), and report the torch build, GPUs, bfloat16 support, threads, "
                    "which backbones work offline and whether Jupyter is installed. Exit status 1 "
                    "when a required package is missing, too old or cannot be imported.")
    doctor.add_argument("--json", action="store_true", help="print a JSON object instead")
    doctor.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=debug_help)
    doctor.set_defaults(func=_cmd_doctor)
    return parser


def main(argv=None):
    """Entry point of the ``skcnn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "cv", None) is not None and args.cv < 2:
        parser.error("--cv must be at least 2")
    if getattr(args, "top", 1) < 1:
        parser.error("--top must be at least 1")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"skcnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error: one line, not a traceback
        if args.debug:
            raise
        described = _one_line(exc) if isinstance(exc, MemoryError) else (
            f"{type(exc).__name__}: {_one_line(exc)}")
        _error(args.command, f"{described} (--debug shows the traceback)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
