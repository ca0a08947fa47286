"""Peak memory of skcnn.load on two hostile files (issue 23): a zip bomb and a huge dtype.

Builds, in a temporary folder, from a small fitted CNNClassifier (8x8 digits):

* ``bomb.skcnn``: about 1 MB, whose manifest deflates from about 1 GB (the JSON padded
  with spaces, so that a loader without limits inflates and parses it);
* ``wide_dtype.skcnn``: about 3 KB, whose manifest declares ``classes_`` as one
  element of dtype ``<U300000000`` (1.2 GB once allocated);
* ``reference.skcnn``: the file as saved, for the baseline.

Each file is loaded in a fresh interpreter that prints its peak resident memory
(``VmHWM`` of /proc/self/status, else ``ru_maxrss``) and the outcome. Run it with the
skcnn to measure on the path, e.g.::

    PYTHONPATH=/path/to/skcnn python benchmarks/load_limits.py [--bomb-mib 1024]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile

CHILD = textwrap.dedent("""
    import resource, sys, warnings
    warnings.simplefilter("ignore")
    import skcnn

    def peak_mib():
        try:
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    import skcnn.io.persist  # everything load imports, before the baseline
    import skcnn.io._json, skcnn.io._networks, safetensors.torch  # noqa: F401
    before = peak_mib()
    try:
        skcnn.load(sys.argv[1])
        outcome = "loaded"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:150]}"
    print(f"{before:.0f}\\t{peak_mib():.0f}\\t{outcome}")
""")


def _fitted_file(folder):
    from skcnn import CNNClassifier, save
    from skcnn.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    model = CNNClassifier(filters=(4,), hidden_units=(16,), max_epochs=1, verbose=0,
                          random_state=0, device="cpu").fit(X[:100], y[:100])
    return save(model, os.path.join(folder, "reference.skcnn"))


def _copy_with_manifest(source, target, write_manifest):
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "skcnn-model.json":
                write_manifest(dst, data)
            else:
                dst.writestr(info, data)
    return target


def build_files(folder, bomb_mib):
    reference = _fitted_file(folder)

    def bomb(dst, manifest):
        info = zipfile.ZipInfo("skcnn-model.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = b" " * (1 << 20)
        with dst.open(info, "w", force_zip64=True) as out:
            out.write(manifest[:-1])
            for _ in range(bomb_mib):
                out.write(chunk)
            out.write(manifest[-1:])

    def wide(dst, manifest):
        data = json.loads(manifest)
        data["objects"][0]["fitted"]["classes_"] = {
            "__ndarray__": {"dtype": "<U300000000", "shape": [1], "data": ["0"]}}
        dst.writestr(zipfile.ZipInfo("skcnn-model.json"), json.dumps(data))

    return {
        "reference": reference,
        "bomb": _copy_with_manifest(reference, os.path.join(folder, "bomb.skcnn"), bomb),
        "wide_dtype": _copy_with_manifest(reference, os.path.join(folder, "wide_dtype.skcnn"),
                                          wide),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bomb-mib", type=int, default=1024,
                        help="MiB the bomb's manifest inflates to (default 1024)")
    args = parser.parse_args()
    import skcnn

    print(f"skcnn from {os.path.dirname(skcnn.__file__)}")
    with tempfile.TemporaryDirectory(prefix="skcnn-load-limits-") as folder:
        files = build_files(folder, args.bomb_mib)
        print(f"{'file':<12}{'size':>12}{'baseline MiB':>14}{'peak MiB':>10}  outcome")
        for name, path in files.items():
            # cwd: the temporary folder, so the child imports the skcnn of PYTHONPATH.
            proc = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True,
                                  text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                                  cwd=folder)
            if proc.returncode != 0:
                line = f"-\t-\tthe process died (exit {proc.returncode}): {proc.stderr[-200:]}"
            else:
                line = proc.stdout.strip().splitlines()[-1]
            before, peak, outcome = line.split("\t", 2)
            size = os.path.getsize(path)
            print(f"{name:<12}{size:>12,}{before:>14}{peak:>10}  {outcome}")


if __name__ == "__main__":
    main()
