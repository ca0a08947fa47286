"""Training throughput of CNNClassifier against a hand-written PyTorch loop.

Both train the same network (same initial weights, optimizer, batch size,
epochs and thread count) on the same tensors: scikit-learn's digits resized to
32x32 for the classic Keras network, and to 64x64 for a deeper 4-block one.
After one warm-up run of each, both sides run ``--repeats`` times, alternating
which goes first; the median time of each counts (single runs on a small shared
machine vary by +-15%). CNNClassifier's time includes its input validation,
conversion and network construction.

    python benchmarks/train_throughput.py [--epochs 3] [--repeats 3] [--threads 2]

Goal: ratio (CNNClassifier / plain loop) >= 0.95 on both networks.
"""

import argparse
import statistics
import time

import torch
from torch import nn

from skcnn import CNNClassifier
from skcnn.datasets import load_digits_images
from skcnn.plugins import InputMeta

NETWORKS = {
    "classic 2-block @32x32": (32, dict(filters=(4, 12), kernel_size=5, pool_size=2,
                                        hidden_units=(512,), optimizer="adadelta")),
    "deeper 4-block @64x64": (64, dict(filters=(16, 32, 64, 128), kernel_size=3, padding="same",
                                       pool_size=2, hidden_units=(256,), optimizer="adadelta")),
}


def plain_loop(module, X, y, epochs, batch_size, seed):
    """The reference: the loop one writes by hand in PyTorch."""
    optimizer = torch.optim.Adadelta(module.parameters(), lr=1.0)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        total = torch.zeros(())
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(module(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        float(total)  # one sync per epoch, as the estimator does
    return module


def measure(name, size, params, epochs, batch_size, repeats):
    images, target = load_digits_images(size=size, return_X_y=True)
    X = torch.from_numpy(images[:, None].copy())
    y = torch.from_numpy(target).long()
    clf_params = dict(params, max_epochs=epochs, batch_size=batch_size, verbose=0,
                      random_state=0, device="cpu")
    meta = InputMeta(1, size, size, 10)

    def run_plain():
        torch.manual_seed(0)
        module = CNNClassifier(**clf_params)._architecture_plugin().build(meta)
        start = time.perf_counter()
        plain_loop(module, X, y, epochs, batch_size, seed=0)
        return time.perf_counter() - start

    def run_skcnn():
        start = time.perf_counter()
        CNNClassifier(**clf_params).fit(images, target)
        return time.perf_counter() - start

    run_plain(), run_skcnn()  # warm-up: allocator, oneDNN primitive caches
    plain_times, skcnn_times = [], []
    for repeat in range(repeats):
        order = (run_plain, run_skcnn) if repeat % 2 == 0 else (run_skcnn, run_plain)
        for run in order:
            (plain_times if run is run_plain else skcnn_times).append(run())

    n_images = len(X) * epochs
    plain_ips = n_images / statistics.median(plain_times)
    skcnn_ips = n_images / statistics.median(skcnn_times)
    print(f"{name:26s} plain loop {plain_ips:9.1f} img/s   CNNClassifier {skcnn_ips:9.1f} img/s"
          f"   ratio {skcnn_ips / plain_ips:.3f}")
    return skcnn_ips / plain_ips


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, "
          f"{args.epochs} epochs, median of {args.repeats} alternating runs")
    ratios = [measure(name, size, params, args.epochs, args.batch_size, args.repeats)
              for name, (size, params) in NETWORKS.items()]
    print(f"minimum ratio {min(ratios):.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
