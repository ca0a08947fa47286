"""``skcnn doctor``: is this environment ready for skcnn?

The packages and their minimum versions are the ones skcnn's installed
metadata declares, never a second list kept by hand (:mod:`._packages`). Core
dependencies are required; the packages of an extra (``pip install
"skcnn[xgboost]"``) are optional. Besides the packages the report describes the
torch build, the GPUs, whether bfloat16 is fast here, the number of threads,
which built-in backbones have their weights on this machine (nothing is
downloaded) and whether Jupyter is installed (:mod:`._machine`), each as
:mod:`skcnn.utils` decides it for the estimators.

This package imports nothing heavy at import time, and torch only inside a
``try``: the report is most useful when something is missing.
"""

from ._machine import (
                       check_backbones,
                       check_bfloat16,
                       check_gpus,
                       check_jupyter,
                       check_threads,
                       probe_torch,
)
from ._packages import check_packages, declared_requirements, installed_version
from ._report import READY, RULE, diagnose, format_report, run

__all__ = [
    "installed_version",
    "declared_requirements",
    "check_packages",
    "probe_torch",
    "check_gpus",
    "check_bfloat16",
    "check_threads",
    "check_backbones",
    "check_jupyter",
    "diagnose",
    "format_report",
    "run",
    "READY",
    "RULE",
]
