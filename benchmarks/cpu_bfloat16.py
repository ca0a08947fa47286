"""bfloat16 against float32 on this CPU: feature extraction, the linear probe, and a training step.

``precision='auto'`` computes in float32 on a CPU. This script measures what
``precision='bfloat16'`` gives instead, in one run, so the choice can be checked on
each CPU (skcnn's own check, :func:`skcnn.utils.bfloat16_support`, says whether the
CPU has native bfloat16: avx512_bf16 or AMX; without it torch emulates bfloat16):

* ``PretrainedFeatures(precision=...)`` on ``../shared/data/caltech20`` (70/30 split,
  random_state=0) for efficientnet_lite0 and lite1: seconds for the features of all
  1,552 photos (decoding included), the relative difference of the features, and the
  test accuracy of ``StandardScaler`` + ``LogisticRegression`` on them (the probe);
  scikit-image's ``lfw_subset`` stands in when caltech20 is absent;
* one training step of lite1 (batch 32, 160 px, channels-last, AdamW) under
  ``torch.autocast('cpu', bfloat16)`` against float32: images per second.

Run on two cores::

    OMP_NUM_THREADS=2 python benchmarks/cpu_bfloat16.py
"""

import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skcnn import PretrainedFeatures
from skcnn.datasets import load_image_folder
from skcnn.pretrained import resolve_backbone
from skcnn.utils import bfloat16_support

CALTECH20 = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech20"
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1")


def images_and_labels():
    if CALTECH20.is_dir():
        paths, labels = load_image_folder(CALTECH20)
        return "caltech20", np.asarray(paths), np.asarray(labels)
    from skimage.data import lfw_subset
    return "lfw_subset", lfw_subset(), np.r_[np.ones(100, int), np.zeros(100, int)]


def probe_run(backbone, precision, X_train, X_test, y_train, y_test):
    """Seconds for every image's features, the test features and the probe's accuracy."""
    features = PretrainedFeatures(backbone=backbone, precision=precision, verbose=0)
    started = time.perf_counter()
    train, test = features.fit_transform(X_train), features.transform(X_test)
    seconds = time.perf_counter() - started
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return seconds, test, probe.fit(train, y_train).score(test, y_test)


def training_rate(autocast, steps=4, batch=32, size=160):
    """Images per second of lite1 training steps (the first step is warm-up)."""
    torch.manual_seed(0)
    model = resolve_backbone("efficientnet_lite1").load().model
    model.reset_classifier(0)
    model = model.to(memory_format=torch.channels_last).train()
    head = nn.Linear(model.num_features, 20)
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-4)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 20, (batch,))

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = head(model.forward_features(x).mean(dim=(2, 3)))
        nn.functional.cross_entropy(logits.float(), y).backward()
        optimizer.step()

    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def main():
    support = bfloat16_support("cpu", torch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; bfloat16 on this "
          f"CPU: {'native' if support['fast'] else 'not native'} ({support['how']})")
    name, X, y = images_and_labels()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                        random_state=0)
    print(f"{name}: {len(X_train)} training / {len(X_test)} test images")
    for backbone in BACKBONES:
        s32, f32, acc32 = probe_run(backbone, "float32", X_train, X_test, y_train, y_test)
        s16, f16, acc16 = probe_run(backbone, "bfloat16", X_train, X_test, y_train, y_test)
        diff = float(np.linalg.norm(f32 - f16) / np.linalg.norm(f32))
        print(f"{backbone}: features float32 {s32:6.1f} s, bfloat16 {s16:6.1f} s "
              f"({s32 / s16:.2f}x); probe accuracy {acc32:.4f} vs {acc16:.4f}; "
              f"features differ by {diff:.1%}", flush=True)
    plain, mixed = training_rate(False), training_rate(True)
    print(f"efficientnet_lite1 training step, 32 x 160 px: float32 {plain:.1f} img/s, "
          f"bfloat16 autocast {mixed:.1f} img/s ({mixed / plain:.2f}x)")


if __name__ == "__main__":
    main()
