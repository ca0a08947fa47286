"""Training throughput of TextCNNClassifier against a hand-written PyTorch loop.

Both train the same Kim CNN (same initial weights, optimizer, batch size, epochs
and thread count) on the same padded batches: the movie-review sentences of
../shared/data/mr_polarity.csv (or ``--data``), tokenised once by a fitted
TextCNNClassifier, each shuffled batch cut to its own longest sentence. After
one warm-up run of each, both sides run ``--repeats`` times, alternating which
goes first; the median time of each counts. TextCNNClassifier's time includes
tokenisation, the vocabulary, input checks and building the network.

    python benchmarks/text_train_throughput.py [--data PATH] [--epochs 1] [--repeats 4] [--n 3000]

Goal (issue 14): ratio (TextCNNClassifier / plain loop) >= 0.95.
"""

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from skcnn import TextCNNClassifier
from skcnn.text.batches import PaddedTextBatches

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mr_polarity.csv")


def plain_loop(module, batches, y, epochs, batch_size, seed):
    """The reference: the loop one writes by hand, on batches padded to their longest text."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = torch.zeros(())
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(module(batches.rows(idx)), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        float(total)  # one sync per epoch, as the estimator does
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="a csv with columns label and text (default: the shared movie reviews)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--n", type=int, default=3000, help="sentences")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frame = pd.read_csv(args.data, keep_default_na=False)
    texts = frame["text"].to_numpy(dtype=object)
    labels = frame["label"].to_numpy(dtype=object)
    keep = np.random.RandomState(0).permutation(len(texts))[:args.n]  # the file is sorted
    texts, labels = texts[keep], labels[keep]
    params = dict(max_epochs=args.epochs, verbose=0, random_state=0, device="cpu")

    def run_skcnn():
        start = time.perf_counter()
        clf = TextCNNClassifier(**params).fit(texts, labels)
        return time.perf_counter() - start, clf

    _, fitted = run_skcnn()
    ids, _ = fitted.encoder_.encode(list(texts))
    batches = PaddedTextBatches(ids, min_length=fitted._min_length_)
    y = torch.as_tensor(np.searchsorted(fitted.classes_, labels), dtype=torch.long)
    meta = fitted._input_meta(ids, len(fitted.classes_))

    def run_plain():
        torch.manual_seed(0)
        module = fitted._architecture_plugin().build(meta)
        start = time.perf_counter()
        plain_loop(module, batches, y, args.epochs, fitted.batch_size, seed=0)
        return time.perf_counter() - start

    run_plain()
    plain_times, skcnn_times = [], []
    for repeat in range(args.repeats):
        order = ("plain", "skcnn") if repeat % 2 == 0 else ("skcnn", "plain")
        for side in order:
            if side == "plain":
                plain_times.append(run_plain())
            else:
                skcnn_times.append(run_skcnn()[0])
    n = len(texts) * args.epochs
    plain_rate = n / statistics.median(plain_times)
    skcnn_rate = n / statistics.median(skcnn_times)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {len(texts)} sentences, batch "
          f"{fitted.batch_size}, {args.epochs} epoch(s), median of {args.repeats} alternating runs")
    print(f"plain loop {plain_rate:8.1f} sentences/s   TextCNNClassifier {skcnn_rate:8.1f} "
          f"sentences/s   ratio {skcnn_rate / plain_rate:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
