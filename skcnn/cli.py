"""The ``skcnn`` command line."""

import argparse
import sys

__all__ = ["main", "build_parser"]


def _cmd_digits(args):
    from .demo import digits_cv_report

    print(digits_cv_report(cv=args.cv, quick=args.quick, random_state=args.random_state,
                           verbose=args.verbose))
    return 0


def _cmd_architectures(args):
    from .scratch import list_architectures

    for name in list_architectures():
        print(name)
    return 0


def _cmd_predict(args):
    import json

    from .exceptions import InputError
    from .pretrained.predict import classify_images

    try:
        results = classify_images(args.images, backbone=args.backbone, top=args.top,
                                  device=args.device, verbose=0)
    except (InputError, ValueError, OSError) as exc:
        print(f"skcnn predict: error: {exc}", file=sys.stderr)
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


def build_parser():
    """The argument parser (subcommands are added here as features land)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skcnn", description="Convolutional neural networks as scikit-learn estimators.")
    parser.add_argument("--version", action="version", version=f"skcnn {__version__}")
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
    digits.set_defaults(func=_cmd_digits)

    predict = sub.add_parser(
        "predict", help="top ImageNet classes of images",
        description="Classify images with a pretrained ImageNet network and print the top "
                    "classes with their probabilities.")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--backbone", default="efficientnet_lite0",
                         help="backbone name (default: efficientnet_lite0, works offline)")
    predict.add_argument("--top", type=int, default=5, help="number of classes to show")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(func=_cmd_predict)

    archs = sub.add_parser("architectures", help="list installed architecture plugins")
    archs.set_defaults(func=_cmd_architectures)
    return parser


def main(argv=None):
    """Entry point of the ``skcnn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "cv", 2) < 2:
        parser.error("--cv must be at least 2")
    if getattr(args, "top", 1) < 1:
        parser.error("--top must be at least 1")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
