"""The default fine-tuning recipe (LP-FT): backbone features computed once, a linear probe
fitted on them, fine-tuning from the probe, and the better of the two kept by an internal
validation split of the training data; the 'auto' settings; the head trained on cached
features with ``unfreeze='head'``.

Real images (scikit-image's LFW subset: 25x25 grayscale faces vs non-faces, and the photos of
skimage.data), tiny fits (32x32 input, 1-2 epochs) on the CPU.
"""

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold, cross_validate
from skorch.callbacks import Callback

from skcnn import FineTunedClassifier, FineTunedRegressor
from skcnn.pretrained import _lpft, _recipe_phases
from skcnn.pretrained._interpolate import (
    INTERPOLATION_WEIGHTS,
    choose_interpolation,
    interpolate_states,
    sign_test,
)
from skcnn.pretrained._lpft import (
    CPU_TRAIN_SIZE,
    RandomResizedCropFlip,
    auto_finetune_augment,
    auto_finetune_epochs,
    fit_head,
)
from skcnn.pretrained.finetune import FineTuningMixin
from skcnn.scratch._recipe import RandomShift

FAST = dict(input_size=32, max_epochs=1, batch_size=16, num_workers=0, verbose=0,
            random_state=0, device="cpu")


@pytest.fixture(scope="module")
def faces(lfw):
    """40 faces and 40 non-faces, interleaved."""
    X, y = lfw
    idx = np.ravel(np.column_stack([np.arange(40), 100 + np.arange(40)]))
    return X[idx], y[idx]


@pytest.fixture(scope="module")
def default_fit(faces):
    X, y = faces
    return FineTunedClassifier(**FAST).fit(X, y)


class TrunkImages:
    """Counts the images that go through the backbone of every network built while active."""

    def __init__(self, monkeypatch):
        self.count = 0
        build = FineTuningMixin._build_module

        def counting_build(estimator, meta):
            module = build(estimator, meta)
            module.trunk.register_forward_hook(self._hook)
            return module

        monkeypatch.setattr(FineTuningMixin, "_build_module", counting_build)

    def _hook(self, module, inputs, output):
        self.count += len(inputs[0])


def phase(recipe, name):
    found = [p for p in recipe["phases"] if p["phase"] == name]
    assert len(found) == 1, (name, [p["phase"] for p in recipe["phases"]])
    return found[0]


# ---------------------------------------------------------------------------- the phases
def test_phases_in_order_on_training_images_only(default_fit, faces):
    X, y = faces
    recipe = default_fit.recipe_
    names = [p["phase"] for p in recipe["phases"]]
    assert names[:4] == ["features", "probe", "finetune", "choose"]
    assert names[4:] in ([], ["refit probe"], ["refit probe", "interpolate"])
    n = len(X)
    features, probe = phase(recipe, "features"), phase(recipe, "probe")
    finetuned, choose = phase(recipe, "finetune"), phase(recipe, "choose")
    np.testing.assert_array_equal(features["images"], np.arange(n))
    # The probe and the fine-tuning train on the same images; the choice looks at the others.
    np.testing.assert_array_equal(probe["images"], finetuned["images"])
    np.testing.assert_array_equal(choose["images"], probe["validation_images"])
    assert not set(probe["images"]) & set(choose["images"])
    assert set(probe["images"]) | set(choose["images"]) == set(range(n))
    # validation_fraction=0.1 of 80 images, stratified: 4 faces and 4 non-faces.
    assert len(choose["images"]) == 8
    assert np.bincount(y[choose["images"]]).tolist() == [4, 4]
    assert recipe["chosen"] in ("probe", "finetune", "interpolation")
    assert finetuned["trains"] == "head and backbone" and finetuned["epochs"] == 1


def test_each_cv_fold_sees_only_its_training_images(lfw, monkeypatch):
    X, y = lfw
    seen = []
    original = _lpft.trunk_features

    def spy(module, images, *args, **kwargs):
        seen.append(images.clone())
        return original(module, images, *args, **kwargs)

    monkeypatch.setattr(_recipe_phases, "trunk_features", spy)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    clf = FineTunedClassifier(**FAST, unfreeze="head")
    result = cross_validate(clf, X[::2], y[::2], cv=cv, return_estimator=True)
    assert len(seen) == 2  # one feature pass per fold, over its training images
    for (train, _), fitted, images in zip(cv.split(X[::2], y[::2]), result["estimator"], seen):
        recipe = fitted.recipe_
        assert len(images) == len(train)
        expected = fitted._prepare_images(X[::2][train], reset=False)
        torch.testing.assert_close(images, torch.as_tensor(expected))
        for p in recipe["phases"]:
            assert p["images"].max() < len(train)
    assert result["test_score"].mean() > 0.7


def test_choice_uses_the_validation_images_only(faces, monkeypatch):
    X, y = faces
    scored = []
    original = _recipe_phases.validation_score

    def spy(outputs, targets, *args, **kwargs):
        scored.append(len(targets))
        return original(outputs, targets, *args, **kwargs)

    monkeypatch.setattr(_recipe_phases, "validation_score", spy)
    clf = FineTunedClassifier(**FAST).fit(X, y)
    n_valid = len(phase(clf.recipe_, "choose")["images"])
    # the probe, each interpolation candidate (a=0 .. 1) and the output-space ensemble
    assert scored == [n_valid] * (1 + len(INTERPOLATION_WEIGHTS) + 1)


class ScrambleHead(Callback):
    """Ruins the head at the end of training: fine-tuning must then lose to the probe."""

    def on_train_end(self, net, **kwargs):
        with torch.no_grad():
            for p in net.module_.head.parameters():
                p.copy_(torch.randn_like(p) * 10)


def test_keeps_the_probe_when_fine_tuning_is_worse(faces, lfw):
    from skcnn.pretrained import resolve_backbone

    X, y = faces
    clf = FineTunedClassifier(**FAST, callbacks=[ScrambleHead()]).fit(X, y)
    assert clf.recipe_["chosen"] == "probe"
    assert phase(clf.recipe_, "refit probe")["images"].tolist() == list(range(len(X)))
    # The backbone is the pretrained one again.
    model = resolve_backbone("efficientnet_lite0").load().model
    model.reset_classifier(0)
    for name, p in model.state_dict().items():
        torch.testing.assert_close(clf.module_.trunk.model.state_dict()[name], p)
    X_all, y_all = lfw
    rest = np.setdiff1d(np.arange(200), np.r_[np.arange(40), 100 + np.arange(40)])
    assert clf.score(X_all[rest], y_all[rest]) > 0.75


def test_probe_matches_logistic_regression_on_standardized_features():
    """With 3 classes (multinomial), the probe solves scikit-learn's problem exactly (with 2,
    its 2-row softmax has half the penalty of the binary model, as C=2)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    features = rng.normal(size=(90, 64)) * rng.uniform(0.1, 3, size=64) + 1
    features[:, :3] += np.eye(3)[y] * 0.8
    features = torch.as_tensor(features, dtype=torch.float32)
    head = torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Linear(64, 3))
    fit_head(head, features, torch.as_tensor(y), torch.ones(90),
             torch.nn.CrossEntropyLoss(reduction="none"))
    with torch.no_grad():  # the head takes the raw features (the scaling is folded in)
        proba = torch.softmax(head(features).double(), 1).numpy()
    scaled = StandardScaler().fit_transform(features.double().numpy())
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(scaled, y)
    np.testing.assert_allclose(proba, reference.predict_proba(scaled), atol=1e-4)


def test_ridge_probe_matches_scikit_learn_ridge():
    """With ``ridge_alpha``, a linear head fitted on the squared error is scikit-learn's
    Ridge(alpha) on standardized features (two outputs), whatever the number of images."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 20)) * rng.uniform(0.1, 3, size=20) + 1
    y = features[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]]) + rng.normal(0, 0.1, (60, 2))
    head = torch.nn.Sequential(torch.nn.Linear(20, 2))
    fit_head(head, torch.as_tensor(features, dtype=torch.float32),
             torch.as_tensor(y, dtype=torch.float32), torch.ones(60),
             torch.nn.MSELoss(reduction="none"), ridge_alpha=5.0)
    with torch.no_grad():
        predicted = head(torch.as_tensor(features, dtype=torch.float32)).double().numpy()
    scaled = StandardScaler().fit_transform(features)
    reference = Ridge(alpha=5.0).fit(scaled, y).predict(scaled)
    np.testing.assert_allclose(predicted, reference, atol=1e-3)


def score(loss, correct):
    correct = np.array(correct, dtype=bool)
    return {"loss": loss, "accuracy": correct.mean(), "correct": correct}


def _right(n_right, n=100, first_wrong=None):
    """n booleans: ``n_right`` right, the wrong ones from position ``first_wrong`` on."""
    correct = np.ones(n, dtype=bool)
    first = n_right if first_wrong is None else first_wrong
    correct[first:first + n - n_right] = False
    return correct


def test_choice_keeps_the_middle_unless_a_candidate_is_significantly_better():
    middle = _right(90)
    scores = {0.0: score(0.30, middle), 0.25: score(0.32, middle), 0.5: score(0.35, middle),
              0.75: score(0.40, middle), 1.0: score(0.50, _right(92))}
    record = {}
    # 2 images more right (2 wins, 0 losses): p = 0.25, noise: the middle stays.
    assert choose_interpolation(scores, "multiclass", record) == 0.5
    assert record == {"best": 1.0, "wins": 2, "losses": 0, "p_value": pytest.approx(0.25)}
    # 6 wins, 0 losses: p = 1/64 < 0.05, the fine-tuned end is taken.
    scores[1.0] = score(0.50, _right(96))
    assert choose_interpolation(scores, "multiclass") == 1.0
    # 8 wins and 2 losses (p = 0.055) is not enough, even with a lower loss.
    scores[1.0] = score(0.20, _right(96, first_wrong=88))
    record = {}
    assert choose_interpolation(scores, "multiclass", record) == 0.5
    assert (record["wins"], record["losses"]) == (8, 2)
    assert record["p_value"] == pytest.approx(0.0547, abs=1e-3)
    # A broken fine-tune: the probe clearly better than the middle is taken.
    broken = {0.0: score(0.3, _right(95)), 0.25: score(0.4, _right(93)),
              0.5: score(0.6, _right(85)), 0.75: score(0.9, _right(70)),
              1.0: score(1.5, _right(60))}
    assert choose_interpolation(broken, "multiclass") == 0.0
    # Equally right: the lowest loss is the best candidate, but not better than the middle.
    tied = {a: score(0.4 + a / 10, middle) for a in INTERPOLATION_WEIGHTS}
    record = {}
    assert choose_interpolation(tied, "multiclass", record) == 0.5
    assert record["best"] == 0.0 and record["p_value"] == 1.0


def test_regression_choice_takes_the_lowest_loss():
    nan = {a: {"loss": float("nan")} for a in (0.0, 0.5, 1.0)}
    assert choose_interpolation(nan, "regression") == 0.0  # nothing finite: the probe
    assert choose_interpolation({0.0: {"loss": 0.5}, 0.5: {"loss": 0.4}, 1.0: {"loss": 0.2}},
                                "regression") == 1.0
    assert choose_interpolation({0.0: {"loss": 0.5}, 0.5: {"loss": 0.6}}, "multilabel") == 0.0


def test_verbose_fit_prints_the_choice_and_its_evidence(faces, monkeypatch, capsys):
    X, y = faces

    def middle_kept(scores, task, record=None):
        record.update(best=1.0, wins=2, losses=0, p_value=0.25)
        return 0.5

    monkeypatch.setattr(_recipe_phases, "choose_interpolation", middle_kept)
    clf = FineTunedClassifier(**dict(FAST, verbose=1)).fit(X, y)
    out = capsys.readouterr().out
    assert "keeps the interpolation a=0.50" in out
    assert "best candidate a=1.00: 2 wins, 0 losses against a=0.50, p=0.25" in out
    assert phase(clf.recipe_, "choose")["evidence"]["p_value"] == 0.25


def test_sign_test_is_binomtest_on_the_disagreements():
    from scipy.stats import binomtest

    a, b = _right(95), _right(90, first_wrong=50)
    wins, losses, p_value = sign_test(a, b)
    assert (wins, losses) == (10, 5)
    assert p_value == pytest.approx(binomtest(10, 15, 0.5, alternative="greater").pvalue)
    assert sign_test(a, a) == (0, 0, 1.0)


def _log_loss(clf, X, y):
    proba = clf.predict_proba(X)
    rows = np.searchsorted(clf.classes_, y)
    return float(-np.log(proba[np.arange(len(y)), rows]).mean())


@pytest.mark.parametrize("forced", [0.0, 0.5, 1.0])
def test_interpolation_candidates_score_validation_images_and_the_ends_are_the_two_networks(
        faces, monkeypatch, tmp_path, forced):
    """a=0 scores the probe's outputs, a=1 the fine-tuned network's; the chosen weight is
    what predicts; every candidate was scored on the validation images only."""
    import skcnn

    X, y = faces
    monkeypatch.setattr(_recipe_phases, "choose_interpolation", lambda scores, task, record=None: forced)
    clf = FineTunedClassifier(**FAST).fit(X, y)
    choose, probe = phase(clf.recipe_, "choose"), phase(clf.recipe_, "probe")
    valid = choose["images"]
    np.testing.assert_array_equal(valid, probe["validation_images"])
    assert not set(valid) & set(probe["images"])
    candidates = {c["weight"]: c for c in choose["candidates"]}
    assert tuple(candidates) == INTERPOLATION_WEIGHTS
    assert all(len(c["correct"]) == len(valid) for c in candidates.values())
    # a = 0 is the probe (scored on the same images through the whole network).
    assert candidates[0.0]["loss"] == pytest.approx(probe["score"]["loss"], abs=1e-5)
    np.testing.assert_array_equal(candidates[0.0]["correct"], probe["score"]["correct"])
    assert clf.recipe_["interpolation"] == forced
    assert clf.recipe_["chosen"] == {0.0: "probe", 1.0: "finetune"}.get(forced, "interpolation")
    if forced == 1.0:  # kept as fine-tuned: it predicts what candidate a=1 scored
        assert _log_loss(clf, X[valid], y[valid]) == pytest.approx(
            candidates[1.0]["loss"], abs=1e-5)
    else:  # the probe refitted on every image, then interpolated
        assert phase(clf.recipe_, "refit probe")["images"].tolist() == list(range(len(X)))
        assert ("interpolate" in [p["phase"] for p in clf.recipe_["phases"]]) == (forced > 0)
    skcnn.save(clf, tmp_path / "model.skcnn")
    back = skcnn.load(tmp_path / "model.skcnn")
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    assert back.recipe_["interpolation"] == forced


def test_interpolated_states_are_the_weighted_means():
    start = {"w": torch.zeros(3), "n": torch.tensor(1)}
    end = {"w": torch.tensor([4.0, 8.0, -4.0]), "n": torch.tensor(7)}
    middle = interpolate_states(start, end, 0.25)
    np.testing.assert_allclose(middle["w"].numpy(), [1.0, 2.0, -1.0])
    assert int(middle["n"]) == 7  # integer buffers come from the fine-tuned network
    with pytest.raises(ValueError, match="same parameters"):
        interpolate_states({"w": torch.zeros(3)}, end, 0.5)


# ---------------------------------------------------------------------------- 'auto' settings
def test_auto_epochs_depend_on_images_and_device_only():
    assert auto_finetune_epochs(1086, "cpu") == 6
    assert auto_finetune_epochs(50, "cpu") == 10
    assert auto_finetune_epochs(100_000, "cpu") == 2
    assert auto_finetune_epochs(1086, "cuda:0") == 28
    assert auto_finetune_epochs(100_000, "cuda") == 5
    assert auto_finetune_epochs(1086, "cpu") == auto_finetune_epochs(1086, torch.device("cpu"))


def test_auto_augment_by_kind_of_image():
    digits = auto_finetune_augment((1, 8, 8), 224, "cpu", "multiclass")
    assert isinstance(digits, RandomShift) and not digits.flip
    small_rgb = auto_finetune_augment((3, 32, 32), 64, "cpu", "multiclass")
    assert isinstance(small_rgb, RandomShift) and not small_rgb.flip
    photo_cpu = auto_finetune_augment(None, 224, "cpu", "multiclass")
    assert isinstance(photo_cpu, RandomResizedCropFlip) and photo_cpu.size == CPU_TRAIN_SIZE
    photo_gpu = auto_finetune_augment((3, 300, 400), 224, "cuda", "multiclass")
    assert photo_gpu.size == 224 and photo_gpu.flip
    assert auto_finetune_augment(None, 224, "cpu", "regression") is None


def test_random_resized_crop_flip_on_a_photo():
    from skimage.data import chelsea

    cat = torch.as_tensor(chelsea()).permute(2, 0, 1).float()[None] / 255
    batch = cat.expand(4, -1, -1, -1)
    torch.manual_seed(0)
    out = RandomResizedCropFlip(64)(batch)
    assert out.shape == (4, 3, 64, 64)
    assert 0 <= out.min() and out.max() <= 1
    assert not torch.allclose(out[0], out[1])  # different crops
    torch.manual_seed(0)
    torch.testing.assert_close(RandomResizedCropFlip(64)(batch), out)


def test_recipe_is_deterministic_for_a_random_state(default_fit, faces):
    X, y = faces
    again = FineTunedClassifier(**FAST).fit(X, y)
    assert again.recipe_["chosen"] == default_fit.recipe_["chosen"]
    assert again.recipe_["max_epochs"] == default_fit.recipe_["max_epochs"]
    for a, b in zip(again.recipe_["phases"], default_fit.recipe_["phases"]):
        np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_allclose(again.predict_proba(X), default_fit.predict_proba(X), atol=1e-6)


def test_auto_defaults_resolved_in_recipe(faces):
    X, y = faces
    clf = FineTunedClassifier(input_size=32, batch_size=16, num_workers=0, verbose=0,
                              random_state=0, device="cpu", unfreeze="head").fit(X, y)
    n_fit = len(phase(clf.recipe_, "probe")["images"])
    assert clf.recipe_["max_epochs"] == auto_finetune_epochs(n_fit, "cpu") == clf.n_iter_
    assert clf.recipe_["augment"] is None  # a frozen backbone: cached features, no augmentation
    assert clf.module_.head[0].p == 0.0  # dropout='auto' after the probe


# ---------------------------------------------------------------------------- cached features
def test_unfreeze_head_runs_the_backbone_once_per_image(faces, monkeypatch):
    X, y = faces
    counter = TrunkImages(monkeypatch)
    clf = FineTunedClassifier(**dict(FAST, max_epochs=4), unfreeze="head", freeze_epochs=0)
    clf.fit(X, y)
    # Each image once, whatever the number of epochs.
    assert counter.count == len(X)
    assert clf.n_iter_ == 4
    # The same training as running the backbone every epoch (an identity augmentation
    # forces that path): same batches, same dropout masks, same weights.
    counter.count = 0
    per_epoch = FineTunedClassifier(**dict(FAST, max_epochs=4), unfreeze="head",
                                    freeze_epochs=0, augment=lambda image: image).fit(X, y)
    assert counter.count == 4 * len(X)
    np.testing.assert_allclose(clf.predict_proba(X), per_epoch.predict_proba(X), atol=1e-4)
    assert clf.loss_curve_ == pytest.approx(per_epoch.loss_curve_, abs=1e-4)


def test_unfreeze_head_with_augmentation_runs_the_backbone_every_epoch(faces, monkeypatch):
    X, y = faces
    counter = TrunkImages(monkeypatch)
    FineTunedClassifier(**dict(FAST, max_epochs=2), unfreeze="head", freeze_epochs=0,
                        augment="light").fit(X, y)
    assert counter.count >= 2 * len(X)


def test_partial_fit_with_probe_default(faces):
    X, y = faces
    clf = FineTunedClassifier(**FAST).partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 1
    assert [p["phase"] for p in clf.recipe_["phases"]] == ["finetune"]  # no probe
    assert clf.recipe_["dropout"] == 0.0


def test_regressor_probe_then_finetune(lfw):
    X, _ = lfw
    rng = np.random.default_rng(0)
    y = X.reshape(len(X), -1).mean(1) + rng.normal(0, 0.01, len(X))  # brightness
    train, test = np.split(rng.permutation(len(X)), [140])
    reg = FineTunedRegressor(**FAST).fit(X[train], y[train])
    assert [p["phase"] for p in reg.recipe_["phases"]][:4] == \
        ["features", "probe", "finetune", "choose"]
    probe = phase(reg.recipe_, "probe")
    assert "accuracy" not in probe["score"] and probe["ridge_alpha"] > 0  # chosen by GCV
    assert reg.recipe_["augment"] is None  # regression: a crop may change the target
    assert reg.score(X[test], y[test]) > 0.2  # (a ridge on the same features: 0.16)


# ---------------------------------------------------------------------------- saving
def test_default_estimators_save_and_load_with_their_recipe(default_fit, faces, tmp_path):
    """recipe_ holds data only (the augmentation as text), so skcnn.save stores the default
    FineTunedClassifier and CNNClassifier (it refused both when recipe_ held the callable)."""
    import skcnn
    from skcnn import CNNClassifier

    X, y = faces
    skcnn.save(default_fit, tmp_path / "finetuned.skcnn")
    back = skcnn.load(tmp_path / "finetuned.skcnn")
    assert back.recipe_["chosen"] == default_fit.recipe_["chosen"]
    assert back.recipe_["augment"] == default_fit.recipe_["augment"] == \
        "RandomShift(max_shift=(3, 3), flip=False)"  # 25x25 grayscale, input 32: 32/12 pixels
    np.testing.assert_array_equal(back.recipe_["phases"][1]["images"],
                                  default_fit.recipe_["phases"][1]["images"])
    np.testing.assert_allclose(back.predict_proba(X), default_fit.predict_proba(X), atol=1e-6)

    cnn = CNNClassifier(max_epochs=1, verbose=0, random_state=0).fit(X, y)
    skcnn.save(cnn, tmp_path / "cnn.skcnn")
    assert skcnn.load(tmp_path / "cnn.skcnn").recipe_ == cnn.recipe_
    assert cnn.recipe_["augment"] == "RandomShift(max_shift=(2, 2), flip=False)"
