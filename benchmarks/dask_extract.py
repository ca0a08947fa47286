"""Throughput of ``skcnn.extract_features`` on a local Dask cluster, against one process.

In one run, over the same ``--n-images`` distinct JPEG files (crops of
scikit-image's photos, 256x256) and the same backbone and input size:

(ref)   ``PretrainedFeatures(batch_size=32).transform(paths)`` in this process,
        torch's default thread count;
(local) ``extract_features(paths, output=..., client=None)``: the same code
        as on a worker, shards written to disk, in this process;
(1w)    ``extract_features`` on a ``LocalCluster`` with 1 worker process,
(2w)    and with 2 worker processes (1 task slot each; skcnn gives each worker
        its share of the cores as torch threads).

Each of (local), (1w), (2w) is timed twice: the first call includes what a
fresh process pays once (the workers import torch and skcnn and load the
network), the second ("warm") is the steady state a long extraction runs at
(without a client the network is released after each call, so both load it).
Prints images/s and each ratio to (ref), checks that every run's features
equal the reference's (max abs difference; bitwise when thread counts match),
and the time to start each cluster (not counted in images/s).

    python benchmarks/dask_extract.py [--n-images 480] [--input-size 224] [--shard-size 64]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from extract_throughput import make_images  # noqa: E402

from skcnn import PretrainedFeatures, extract_features  # noqa: E402


def write_files(folder, n):
    paths = []
    for i, image in enumerate(make_images(n, size=256, seed=2)):
        path = os.path.join(folder, f"img_{i:05d}.jpg")
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def report(label, seconds, n, reference_seconds, features, reference, extra=""):
    diff = float(np.abs(features - reference).max())
    ratio = reference_seconds / seconds
    print(f"{label:44s} {n / seconds:7.1f} img/s  ratio to ref {ratio:5.2f}  "
          f"max |diff| {diff:.1e}{extra}", flush=True)
    return ratio


def cold_and_warm(label, run, paths, reference, reference_seconds, extra="",
                  whens=("first call", "warm")):
    """Time a first call (imports and model load included) and a second one (warm)."""
    for when in whens:
        seconds, result = timed(lambda when=when: run(when))
        report(f"{label}, {when}", seconds, len(paths), reference_seconds, result.load(),
               reference, extra if when == "warm" else "")


def on_cluster(n_workers, paths, folder, settings, shard_size, reference, reference_seconds):
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0", silence_logs=40)
    try:
        with Client(cluster) as client:
            startup = time.perf_counter() - start

            def run(when):
                return extract_features(
                    paths, output=os.path.join(folder, f"w{n_workers}-{when}"), client=client,
                    shard_size=shard_size, verbose=0, **settings)

            cold_and_warm(f"(w{n_workers}) Dask, {n_workers} worker(s)", run, paths, reference,
                          reference_seconds, f"  (cluster start {startup:.1f} s)")
            # Asked in tasks: OpenMP thread counts belong to the thread running the tasks.
            threads = client.gather([client.submit(torch.get_num_threads, pure=False,
                                                   workers=[a]) for a in client.nthreads()])
            print(f"    torch threads per worker {threads}", flush=True)
    finally:
        cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=480)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    args = parser.parse_args()
    settings = dict(backbone=args.backbone, input_size=args.input_size, batch_size=32)
    print(f"{args.n_images} JPEG files 256x256 -> {args.backbone} at {args.input_size}px, "
          f"batch 32, shards of {args.shard_size}; {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads here", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(folder, args.n_images)
        extractor = PretrainedFeatures(verbose=0, **settings).fit(paths)
        extractor.transform(paths[:32])  # warm-up
        ref_seconds, reference = timed(lambda: extractor.transform(paths))
        print(f"{'(ref) PretrainedFeatures.transform':44s} {len(paths) / ref_seconds:7.1f} img/s",
              flush=True)

        def run_here(when):
            return extract_features(paths, output=os.path.join(folder, f"local-{when}"),
                                    shard_size=args.shard_size, verbose=0, **settings)

        # Here the network is released after each call (loaded again by the second).
        cold_and_warm("(local) extract_features, no client", run_here, paths, reference,
                      ref_seconds, whens=("first call", "second call"))
        for n_workers in (1, 2):
            on_cluster(n_workers, paths, folder, settings, args.shard_size, reference,
                       ref_seconds)


if __name__ == "__main__":
    main()
