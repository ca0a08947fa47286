"""Peak memory of tiny image files that declare extreme sizes (issue 23, "a folder is a boundary").

Builds, in a temporary folder:

* a 300,000 x 1 PNG and a 60,000 x 1 PNG (a few hundred bytes each): resizing the
  shorter side to the network's 256 pixels first multiplies the long side by 256;
* a 60,000 x 60,000 PNG header (Pillow's ``DecompressionBombError``);
* a 256 x 256 photograph, the reference.

and runs each case in a fresh Python process, printing its peak resident memory
(``ru_maxrss`` from ``os.wait4``), its exit status and the last line it wrote:

* ``PretrainedFeatures().fit_transform([path])`` on the photograph and the 300,000 x 1 PNG;
* ``skcnn predict`` on the photograph, the 60,000 x 1 PNG and the declared-huge PNG.

The child processes run under an address-space limit (``--max-gb``, default 12) so a
case that tries to allocate tens of gigabytes fails with ``MemoryError`` instead of
swapping the machine. Run it against another checkout with ``PYTHONPATH``::

    python benchmarks/image_limits.py
    cd /path/to/other/checkout && PYTHONPATH=$PWD python /path/to/benchmarks/image_limits.py
"""

import argparse
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

FEATURES = """
import sys
from skcnn import PretrainedFeatures
try:
    out = PretrainedFeatures(verbose=0).fit_transform([sys.argv[1]])
    print("ok: features of shape", out.shape)
except BaseException as exc:
    print(f"{type(exc).__name__}: {str(exc)[:200]}")
    sys.exit(1)
"""

PREDICT = """
import sys
from skcnn.cli import main
sys.exit(main(["predict", *sys.argv[1:]]))
"""


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def declared_png(path, width, height):
    """A PNG whose header declares ``width x height`` gray pixels, with one tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + _png_chunk(b"IEND", b""))
    return path


def build_files(folder):
    folder = Path(folder)
    files = {}
    for width in (300_000, 60_000):
        path = folder / f"line_{width}x1.png"
        Image.fromarray(np.full((1, width), 128, np.uint8)).save(path, optimize=True)
        files[f"{width}x1"] = path
    files["60000x60000"] = declared_png(folder / "declared_60000x60000.png", 60_000, 60_000)
    photo = folder / "chelsea_256.png"
    Image.fromarray(skdata.chelsea()).resize((256, 256)).save(photo)
    files["photo"] = photo
    return files


def run_case(code, args, max_gb, timeout):
    """``(peak RSS in MiB, exit status, output lines)`` of ``python -c code args``."""
    limit = int(max_gb * 2**30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=cap,
                                   env={**os.environ, "TQDM_DISABLE": "1"})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        lines = [line for line in log.read().decode(errors="replace").splitlines()
                 if line.strip()]
    return usage.ru_maxrss / 1024, process.returncode, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-gb", type=float, default=12.0,
                        help="address-space limit of each child process (GiB)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    import skcnn

    print(f"skcnn from {os.path.dirname(skcnn.__file__)}")
    with tempfile.TemporaryDirectory() as folder:
        files = build_files(folder)
        for name, path in files.items():
            print(f"  {name}: {path.stat().st_size} bytes")
        cases = [
            ("PretrainedFeatures.fit_transform", "photo", FEATURES, [files["photo"]]),
            ("PretrainedFeatures.fit_transform", "300000x1", FEATURES, [files["300000x1"]]),
            ("skcnn predict", "photo", PREDICT, [files["photo"]]),
            ("skcnn predict", "60000x1", PREDICT, [files["60000x1"]]),
            ("skcnn predict", "60000x60000", PREDICT, [files["60000x60000"]]),
        ]
        print(f"{'call':34s} {'image':12s} {'peak RSS':>10s} {'exit':>5s} {'lines':>5s}  "
              "last line of output")
        for call, image, code, case_args in cases:
            peak, status, lines = run_case(code, case_args, args.max_gb, args.timeout)
            last = lines[-1] if lines else ""
            print(f"{call:34s} {image:12s} {peak:8.0f} MB {status:5d} {len(lines):5d}  "
                  f"{last[:110]}", flush=True)


if __name__ == "__main__":
    main()
