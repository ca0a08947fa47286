"""The ``skcnn`` command: ``predict``, ``architectures``, ``digits`` and ``--version``
(``compare`` is tested in test_compare.py and test_datasets_folder.py).

Commands run in-process through :func:`skcnn.cli.main`, except one real call of
the installed console script. Network access is blocked for the in-process
commands: ``predict`` uses the default backbone, whose weights ship in a pip
package.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import blocked_network
from PIL import Image
from skimage import data

import skcnn
from skcnn.cli import build_parser, main


@pytest.fixture(scope="module", autouse=True)
def no_network():
    with blocked_network():
        yield


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    cat, coffee = folder / "cat.png", folder / "coffee.png"
    Image.fromarray(data.chelsea()).save(cat)
    Image.fromarray(data.coffee()).save(coffee)
    return cat, coffee


LINE = re.compile(r"^\s+(\d)\. (.+?)\s+(\d+\.\d)%$")


def parse_text(out):
    """``{image: [(rank, class, percent), ...]}`` from predict's text output."""
    results, current = {}, None
    for line in out.splitlines():
        match = LINE.match(line)
        if match:
            rank, name, percent = match.groups()
            results[current].append((int(rank), name, float(percent)))
        elif line.strip():
            current = line
            results[current] = []
    return results


# --------------------------------------------------------------------------- predict


def test_predict_top3_text(photo_files, capsys):
    cat, _ = photo_files
    assert main(["predict", str(cat), "--top", "3"]) == 0
    captured = capsys.readouterr()
    print(captured.out)
    results = parse_text(captured.out)
    assert list(results) == [str(cat)]
    top = results[str(cat)]
    assert [rank for rank, _, _ in top] == [1, 2, 3]
    assert {name for _, name, _ in top} == {"Egyptian cat", "tabby", "tiger cat"}
    percents = [p for _, _, p in top]
    assert percents == sorted(percents, reverse=True)
    assert 0 < sum(percents) <= 100.05
    assert captured.err == ""


def test_predict_json_two_images(photo_files, capsys):
    cat, coffee = photo_files
    assert main(["predict", str(cat), str(coffee), "--json"]) == 0
    out = capsys.readouterr().out
    results = json.loads(out)
    assert [r["image"] for r in results] == [str(cat), str(coffee)]
    for result in results:
        assert set(result) == {"image", "predictions"}
        predictions = result["predictions"]
        assert len(predictions) == 5  # --top defaults to 5
        for p in predictions:
            assert set(p) == {"class", "probability"}
            assert isinstance(p["class"], str) and 0 <= p["probability"] <= 1
        probabilities = [p["probability"] for p in predictions]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-6
    assert results[0]["predictions"][0]["class"] in {"Egyptian cat", "tabby", "tiger cat"}
    assert results[1]["predictions"][0]["class"] == "espresso"
    assert results[1]["predictions"][0]["probability"] > 0.5


def test_predict_missing_file(photo_files, tmp_path, capsys):
    missing = tmp_path / "no_such_cat.png"
    assert main(["predict", str(photo_files[0]), str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed for the good image either
    assert captured.err.startswith("skcnn predict: error:")
    assert str(missing) in captured.err


def test_predict_not_an_image(tmp_path, capsys):
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    assert main(["predict", str(fake)]) == 2
    assert str(fake) in capsys.readouterr().err


def test_predict_unknown_backbone(photo_files, capsys):
    assert main(["predict", str(photo_files[0]), "--backbone", "no_such_net"]) == 2
    err = capsys.readouterr().err
    assert "no_such_net" in err and "efficientnet_lite0" in err


@pytest.mark.parametrize("top", ["0", "-1"])
def test_predict_top_must_be_positive(photo_files, top, capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict", str(photo_files[0]), "--top", top])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--top must be at least 1" in err


def test_predict_needs_an_image(capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict"])
    assert info.value.code == 2
    assert "IMAGE" in capsys.readouterr().err


# --------------------------------------------------------------------------- other commands


def test_architectures(capsys):
    assert main(["architectures"]) == 0
    names = capsys.readouterr().out.split()
    for name in ("convnet", "simple_cnn", "lenet5"):
        assert name in names


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("compare", "predict", "digits", "architectures"):
        assert command in out


def test_help_lists_subcommands():
    parser = build_parser()
    help_text = parser.format_help()
    assert "predict" in help_text and "digits" in help_text and "compare" in help_text


def test_digits_cv_must_be_at_least_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["digits", "--cv", "1"])
    assert info.value.code == 2
    assert "--cv must be at least 2" in capsys.readouterr().err


def test_digits_quick(capsys):
    assert main(["digits", "--quick", "--cv", "2", "--verbose", "0"]) == 0
    captured = capsys.readouterr()
    print(captured.out)
    lines = captured.out.strip().splitlines()
    assert lines[0].split()[:3] == ["model", "mean", "acc"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"CNNClassifier", "SVC"}
    for row in rows.values():
        fold_scores = [float(v) for v in row.split()[-2:]]  # --cv 2: two folds
        assert all(0 <= s <= 1 for s in fold_scores)
    assert float(rows["SVC"].split()[-2]) > 0.9
    assert captured.err == ""  # --verbose 0: no progress bars


# --------------------------------------------------------------------------- console script


def test_console_script_version():
    script = Path(sys.executable).with_name("skcnn")
    assert script.exists(), f"console script not installed next to {sys.executable}"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"skcnn {skcnn.__version__}"
