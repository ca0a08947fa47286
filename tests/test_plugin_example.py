"""The example plugin package (examples/plugin_package) installs and plugs into skcnn.

The package is built and installed without network into a temporary folder;
a fresh Python process with that folder on ``PYTHONPATH`` must discover its
architecture and backbone by name through the entry points, train a
``CNNClassifier`` with the architecture and extract features with the backbone.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin_package"

CHECK = textwrap.dedent("""
    import json

    import numpy as np
    import torch

    torch.set_num_threads(1)

    import skcnn
    from skcnn import CNNClassifier, PretrainedFeatures
    from skcnn.datasets import load_digits_images

    out = {}
    out["architectures"] = skcnn.list_architectures()
    out["backbones"] = {b["name"]: b for b in skcnn.list_backbones()}

    X, y = load_digits_images(return_X_y=True)  # 8x8, ten classes: chance is 0.1
    clf = CNNClassifier(architecture="tinynet", max_epochs=5, verbose=0, random_state=0)
    clf.fit(X[:1000], y[:1000])
    out["accuracy"] = float(clf.score(X[1000:], y[1000:]))
    out["module"] = type(clf.module_).__name__
    from skcnn_tinynets import TinyNet

    tuned = CNNClassifier(architecture=TinyNet(), max_epochs=1, verbose=0, random_state=0)
    tuned.set_params(architecture__channels=4)  # an instance's parameters are nested ones
    out["tuned_params"] = sum(p.numel() for p in tuned.fit(X[:100], y[:100]).module_.parameters())

    features = PretrainedFeatures(backbone="random_conv", verbose=0)
    out["features_shape"] = list(features.fit_transform(X[:50]).shape)
    out["layer_names"] = features.layer_names_
    stem = PretrainedFeatures(backbone="random_conv", layer="stem", pooling="avgmax", verbose=0)
    out["stem_shape"] = list(stem.fit_transform(X[:10]).shape)
    again = PretrainedFeatures(backbone="random_conv", verbose=0).fit_transform(X[:50])
    out["deterministic"] = bool(np.array_equal(again, features.transform(X[:50])))
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package installed into a temporary folder (no network, no build isolation)."""
    root = tmp_path_factory.mktemp("plugin_example")
    source = root / "source"
    # Build from a copy: setuptools writes build/ and *.egg-info/ next to the sources.
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    target = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
           str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert (target / "skcnn_tinynets.py").is_file()
    return target


def test_example_package_plugs_into_skcnn(installed):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(installed), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])

    # Discovered by name, next to the built-in ones.
    assert "tinynet" in result["architectures"]
    assert {"convnet", "simple_cnn", "lenet5"} <= set(result["architectures"])
    backbone = result["backbones"].get("random_conv")
    assert backbone is not None, result["backbones"]
    assert backbone["weights_available_offline"] is True
    assert backbone["source"].startswith("package:skcnn-tinynets")
    assert "efficientnet_lite0" in result["backbones"]

    # Trained from scratch: well above chance (0.1) on held-out digits.
    assert result["module"] == "Sequential"
    assert result["accuracy"] > 0.4, result["accuracy"]
    # architecture__channels=4: conv 1->4 (+BN), conv 4->8 (+BN), linear 8->10.
    assert result["tuned_params"] == (9 * 4 + 4) + 8 + (9 * 4 * 8 + 8) + 16 + (8 * 10 + 10)

    # Features: 2 * width = 32 at the default layer 'stage2'; 'stem' with avgmax: 2 * 16.
    assert result["features_shape"] == [50, 32]
    assert result["layer_names"] == ["stem", "stage1", "stage2"]
    assert result["stem_shape"] == [10, 32]
    assert result["deterministic"] is True
