"""Feature-extraction throughput and memory of PretrainedFeatures, against two references.

In one run, for each backbone at 224x224 on this machine:

(a) a per-image float32 loop (one forward pass per image, how some wrappers do it),
(b) a hand-written batched float32 ``torch.inference_mode`` loop,
(c) ``PretrainedFeatures`` with default settings.

All three start from the same uint8 images and include the same preprocessing
(resize, center crop, normalise). Prints images/s, the ratios c/a and c/b, and
the cosine similarity of c's features to b's. Goals: c/a >= 3, c/b >= 1.0,
similarity >= 0.99.

Then it writes ``--n-files`` JPEG files to a temporary folder and extracts their
features in a fresh process for 1/10 and all of them, printing the peak memory
of each: streaming keeps the growth to the size of the output array.

resnet50's ImageNet weights cannot be downloaded here; a randomly initialised
state dict written to a temporary file stands in (the speed is the same).

    python benchmarks/extract_throughput.py [--n-images 192] [--n-files 20000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from skimage import data as skdata
from torchvision import transforms as T

from skcnn import PretrainedFeatures
from skcnn.pretrained import ResNet50, resolve_backbone

INTERP = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}


def make_images(n, size=256, seed=0):
    """``n`` distinct RGB crops of scikit-image's photos, uint8 (n, size, size, 3)."""
    photos = [skdata.chelsea(), skdata.coffee(), skdata.astronaut(), skdata.rocket(),
              np.stack([skdata.camera()] * 3, axis=-1)]
    rng = np.random.RandomState(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        side = rng.randint(size // 2, min(photo.shape[:2]))
        top = rng.randint(0, photo.shape[0] - side + 1)
        left = rng.randint(0, photo.shape[1] - side + 1)
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        out[i] = np.asarray(crop.resize((size, size), Image.BILINEAR))
    return out


def reference_transform(config):
    return T.Compose([
        T.Resize(config.resize_size, interpolation=INTERP.get(config.interpolation,
                                                              T.InterpolationMode.BILINEAR)),
        T.CenterCrop(config.input_size),
        T.ToTensor(),
        T.Normalize(config.mean, config.std),
    ])


def features_module(backbone):
    """Last stage + global average pooling, written by hand for each family."""
    model = backbone.model.eval()
    if hasattr(model, "forward_features"):  # timm
        return lambda x: model.forward_features(x).mean(dim=(2, 3))
    trunk = torch.nn.Sequential(*list(model.children())[:-1])  # torchvision resnet: drop fc
    return lambda x: trunk(x).flatten(1)


def per_image_loop(fn, images, transform):
    rows = []
    with torch.no_grad():
        for image in images:
            rows.append(fn(transform(Image.fromarray(image))[None]).numpy()[0])
    return np.stack(rows)


def batched_loop(fn, images, transform, batch_size=32):
    rows = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.stack([transform(Image.fromarray(im))
                                 for im in images[start:start + batch_size]])
            rows.append(fn(batch).numpy())
    return np.concatenate(rows)


def timed(fn, *args, repeats=2):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def throughput(name, plugin, images, n_per_image):
    backbone = plugin.load()
    fn = features_module(backbone)
    transform = reference_transform(backbone.preprocess)
    t_a, _ = timed(per_image_loop, fn, images[:n_per_image], transform, repeats=1)
    t_b, feats_b = timed(batched_loop, fn, images, transform)
    extractor = PretrainedFeatures(backbone=plugin, verbose=0).fit(images[:2])
    t_c, feats_c = timed(extractor.transform, images)
    ips_a, ips_b, ips_c = n_per_image / t_a, len(images) / t_b, len(images) / t_c
    sim = cosine(feats_c, feats_b)
    print(f"{name:18s} (a) per-image {ips_a:6.1f} img/s  (b) batched {ips_b:6.1f} img/s  "
          f"(c) PretrainedFeatures {ips_c:6.1f} img/s  c/a {ips_c / ips_a:5.2f}  "
          f"c/b {ips_c / ips_b:5.2f}  cosine(c, b) min {sim.min():.5f} mean {sim.mean():.5f}",
          flush=True)


def write_files(folder, n):
    tiles = make_images(64, size=96, seed=1)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"img_{i:05d}.jpg")
        Image.fromarray(tiles[i % len(tiles)]).save(path, quality=90)
        paths.append(path)
    return paths


def _rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(folder, n, input_size):
    """Run in a fresh process: extract n files, report peak RSS (MiB) as JSON.

    The process's resident memory is sampled every 20 ms during ``transform``
    (``ru_maxrss`` would report the high-water mark of loading torch instead).
    """
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder))[:n]
    extractor = PretrainedFeatures(input_size=input_size, verbose=0).fit(paths[:1])
    base = _rss_mib()
    peak, done = [base], threading.Event()

    def sample():
        while not done.wait(0.02):
            peak.append(_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    features = extractor.transform(paths)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    print(json.dumps({
        "n": n, "seconds": elapsed, "rss_before_mib": base,
        "peak_rss_mib": max(peak + [_rss_mib()]),
        "peak_worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "output_mib": features.nbytes / 2**20,
    }))


def memory(n_files, input_size):
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_files(folder, n_files)
        print(f"wrote {n_files} JPEG files (96x96) in {time.perf_counter() - start:.0f}s; "
              f"extracting at input_size={input_size} in fresh processes")
        results = []
        for n in (max(n_files // 10, 1), n_files):
            out = subprocess.run([sys.executable, __file__, "--memory-child", folder, str(n),
                                  str(input_size)], capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(res)
            print(f"  {res['n']:6d} files: {res['n'] / res['seconds']:6.1f} img/s, peak RSS "
                  f"{res['peak_rss_mib']:7.1f} MiB (before transform {res['rss_before_mib']:.1f}), "
                  f"decode workers peak {res['peak_worker_rss_mib']:.1f} MiB, output array "
                  f"{res['output_mib']:.1f} MiB", flush=True)
        small, large = results
        growth = large["peak_rss_mib"] - small["peak_rss_mib"]
        out_growth = large["output_mib"] - small["output_mib"]
        print(f"  peak memory grew {growth:.1f} MiB for {large['n'] - small['n']} more images; "
              f"the output array grew {out_growth:.1f} MiB (goal: growth <= output growth + "
              "a small constant)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=192)
    parser.add_argument("--n-per-image", type=int, default=48,
                        help="images timed in the slow per-image loop")
    parser.add_argument("--n-files", type=int, default=20000)
    parser.add_argument("--memory-input-size", type=int, default=64)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, {args.n_images} images of 256x256 -> 224x224")
    images = make_images(args.n_images)
    throughput("efficientnet_lite0", resolve_backbone("efficientnet_lite0"), images,
               args.n_per_image)
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "resnet50_random.pth")
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        throughput("resnet50 (random)", ResNet50(weights=weights), images, args.n_per_image)
    if not args.skip_memory:
        memory(args.n_files, args.memory_input_size)


if __name__ == "__main__":
    main()
