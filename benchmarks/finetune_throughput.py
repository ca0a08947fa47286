"""Fine-tuning throughput of FineTunedClassifier against a hand-written PyTorch loop.

Same backbone (EfficientNet-Lite0, ImageNet weights), input size, batch size,
precision (float32), optimizer (AdamW, backbone at 0.1x the head's rate),
BatchNorm in training mode, and the same 'standard' augmentation applied image
by image, on the same prepared tensors (scikit-image's lfw_subset, 200 images).
Training images/s are measured per epoch (the estimator's ``history_['dur']``
against the loop's own epoch time; the first epoch of each is dropped as
warm-up). Also prints the time per epoch with the backbone frozen against
unfrozen.

    python benchmarks/finetune_throughput.py [--epochs 3] [--input-size 96]

Goal: ratio >= 0.95.
"""

import argparse
import time

import numpy as np
import torch
from skimage.data import lfw_subset
from torch import nn

from skcnn import FineTunedClassifier
from skcnn.data.augment import make_augmentation
from skcnn.pretrained import resolve_backbone


def hand_written(images, labels, input_size, epochs, batch_size, lr=1e-3, channels_last=False):
    """The loop one writes by hand (``channels_last``: with the model's weights
    channels-last, as the estimator's); returns the per-epoch seconds."""
    estimator = FineTunedClassifier(input_size=input_size, num_workers=0, verbose=0)
    X = estimator._prepare_images(images, reset=True)  # same preprocessing, done once
    y = torch.as_tensor(labels)
    model = resolve_backbone("efficientnet_lite0").load().model
    model.reset_classifier(0)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    head = nn.Linear(1280, 2)
    optimizer = torch.optim.AdamW([
        {"params": model.parameters(), "lr": lr * 0.1},
        {"params": head.parameters(), "lr": lr},
    ], weight_decay=0.01)
    augment = make_augmentation("standard", X.shape[2:])
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    durations = []
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(X), generator=generator)
        total = torch.zeros(())
        for first in range(0, len(X), batch_size):
            idx = order[first:first + batch_size]
            batch = augment(X[idx])
            optimizer.zero_grad()
            logits = head(model.forward_features(batch).mean(dim=(2, 3)))
            loss = loss_fn(logits, y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        float(total)
        durations.append(time.perf_counter() - start)
    return durations


def estimator_epochs(images, labels, input_size, epochs, batch_size, unfreeze="all"):
    clf = FineTunedClassifier(input_size=input_size, max_epochs=epochs, batch_size=batch_size,
                              unfreeze=unfreeze, freeze_epochs=0, bn="train",
                              lr_schedule="constant", augment="standard", precision="float32",
                              num_workers=0, random_state=0, verbose=0)
    clf.fit(images, labels)
    return [h["dur"] for h in clf.history_]


def head_epochs(images, labels, input_size, epochs, batch_size, cached):
    """Per-epoch seconds of ``unfreeze='head'`` (BatchNorm frozen, no augmentation) with the
    backbone's features computed once (``cached``) or the backbone run every epoch (before
    issue 13); and the seconds of the whole fit."""
    clf = FineTunedClassifier(input_size=input_size, max_epochs=epochs, batch_size=batch_size,
                              unfreeze="head", freeze_epochs=0, augment=None,
                              precision="float32", num_workers=0, random_state=0, verbose=0)
    clf._cache_head_features = cached
    start = time.perf_counter()
    clf.fit(images, labels)
    total = time.perf_counter() - start
    return [h["dur"] for h in clf.history_], total, clf.score(images, labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    images = lfw_subset()
    labels = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    n = len(images)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} images at "
          f"{args.input_size}x{args.input_size}, batch {args.batch_size}, {args.epochs} epochs "
          f"(first dropped), best of {args.repeats}")
    best_plain = best_hand = best_est = float("inf")
    for _ in range(args.repeats):
        best_plain = min(best_plain, np.mean(hand_written(
            images, labels, args.input_size, args.epochs, args.batch_size)[1:]))
        best_hand = min(best_hand, np.mean(hand_written(
            images, labels, args.input_size, args.epochs, args.batch_size,
            channels_last=True)[1:]))
        best_est = min(best_est, np.mean(estimator_epochs(
            images, labels, args.input_size, args.epochs, args.batch_size)[1:]))
    print(f"hand-written loop, NCHW weights          {n / best_plain:7.1f} img/s  "
          f"({best_plain:.2f} s/epoch)")
    print(f"hand-written loop, channels-last weights {n / best_hand:7.1f} img/s  "
          f"({best_hand:.2f} s/epoch)")
    print(f"FineTunedClassifier                      {n / best_est:7.1f} img/s  "
          f"({best_est:.2f} s/epoch)")
    print(f"ratio {best_hand / best_est:.3f} against the channels-last loop (goal >= 0.95), "
          f"{best_plain / best_est:.3f} against the NCHW loop")
    frozen = np.mean(estimator_epochs(images, labels, args.input_size, args.epochs,
                                      args.batch_size, unfreeze="head")[1:])
    print(f"time per epoch: backbone frozen {frozen:.2f} s, unfrozen {best_est:.2f} s "
          f"({best_est / frozen:.1f}x)")
    every, every_total, every_acc = head_epochs(images, labels, args.input_size, args.epochs,
                                                args.batch_size, cached=False)
    once, once_total, once_acc = head_epochs(images, labels, args.input_size, args.epochs,
                                             args.batch_size, cached=True)
    print(f"unfreeze='head', epochs after the first: backbone every epoch "
          f"{np.mean(every[1:]):.3f} s, cached features {np.mean(once[1:]):.4f} s "
          f"({np.mean(every[1:]) / np.mean(once[1:]):.0f}x faster; goal >= 5x); whole fit "
          f"{every_total:.2f} s vs {once_total:.2f} s; training accuracy {every_acc:.3f} vs "
          f"{once_acc:.3f}")


if __name__ == "__main__":
    main()
