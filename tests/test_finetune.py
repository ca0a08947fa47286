"""FineTunedClassifier on real images (scikit-image's LFW subset, 25x25 grayscale faces vs
non-faces): input kinds, an accuracy check, the fine-tuning recipe (unfreeze, freeze_epochs,
bn, per-stage learning rates, schedules), training options, persistence and bad input.

Every fit is tiny (32x32 input, 1-3 epochs, 32-90 images) so the module runs in well under a
minute on two cores. Only the default backbone (whose weights ship in a pip package) is used.
"""

import pickle

import joblib
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skcnn import FineTunedClassifier
from skcnn._engine import CosineDecay
from skcnn.exceptions import InputError, PluginNotFoundError
from skcnn.pretrained import resolve_backbone
from skcnn.pretrained.finetune import backbone_stages

#: Small and fast: 32x32 input, one epoch, pinned to the CPU for exact reproducibility.
FAST = dict(input_size=32, max_epochs=1, batch_size=16, num_workers=0, verbose=0,
            random_state=0, device="cpu")

LABELS = np.array(["other", "face"])  # 0 -> non-face, 1 -> face


# ---------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def small(lfw):
    """16 faces and 16 non-faces, interleaved, with string labels."""
    X, y = lfw
    idx = np.ravel(np.column_stack([np.arange(16), 100 + np.arange(16)]))
    return X[idx], LABELS[y[idx]]


@pytest.fixture(scope="module")
def reference():
    """The freshly loaded backbone: its state (by parameter name) and its stages."""
    loaded = resolve_backbone("efficientnet_lite0").load()
    model = loaded.model
    model.reset_classifier(0)  # as FineTunedClassifier does: the ImageNet head is not used
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stages = backbone_stages(model, loaded.layer_names())
    return state, stages


@pytest.fixture(scope="module")
def fitted(small):
    """The fast settings fitted on ``small`` (string labels); shared, never refitted."""
    X, y = small
    return FineTunedClassifier(**FAST).fit(X, y)


def trunk_params(clf):
    """{name: tensor} of the backbone's parameters, named as in the backbone itself."""
    return dict(clf.module_.trunk.model.named_parameters())


def bn_param_names(clf):
    return {f"{mod_name}.{p}" for mod_name, mod in clf.module_.trunk.model.named_modules()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm)
            for p, _ in mod.named_parameters(recurse=False)}


def changed_params(clf, state):
    """Names of the backbone parameters that differ from ``state``."""
    params = trunk_params(clf)
    assert set(params) <= set(state)
    return {name for name, p in params.items() if not torch.equal(p.detach(), state[name])}


def bn_buffers(clf):
    return {f"{mod_name}.{b}": buf for mod_name, mod in clf.module_.trunk.model.named_modules()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm)
            for b, buf in mod.named_buffers(recurse=False) if b in ("running_mean", "running_var")}


# ---------------------------------------------------------------------------- input kinds
@pytest.mark.parametrize("kind", ["float", "uint8", "pil", "paths"])
def test_input_kinds(small, fitted, tmp_path, kind):
    X, y = small
    # The 8-bit image a float array is turned into (its pixels go through float32).
    u8 = np.clip(np.rint(X.astype(np.float32).astype(np.float64) * 255), 0, 255).astype(np.uint8)
    if kind == "float":
        images = X
    elif kind == "uint8":
        images = u8
    elif kind == "pil":
        images = [Image.fromarray(im) for im in u8]
    else:
        images = []
        for i, im in enumerate(u8):
            path = tmp_path / f"img_{i:03d}.png"
            Image.fromarray(im).save(path)
            images.append(str(path))

    clf = FineTunedClassifier(**FAST).fit(images, y)
    assert list(clf.classes_) == ["face", "other"]
    assert clf.classes_.dtype.kind in "UO"
    pred = clf.predict(images)
    assert pred.shape == (len(y),)
    assert set(pred) <= {"face", "other"}
    proba = clf.predict_proba(images)
    assert proba.shape == (len(y), 2)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    if kind in ("float", "uint8"):
        assert clf.n_features_in_ == 25 * 25
    else:
        assert not hasattr(clf, "n_features_in_")
    # Every kind becomes the same 8-bit image, so it trains the same network as the
    # float array does.
    np.testing.assert_allclose(proba, fitted.predict_proba(X), atol=1e-6)


def test_integer_labels_come_back_as_given(small):
    X, y = small
    y_int = np.where(y == "face", 7, -3)
    clf = FineTunedClassifier(**FAST).fit(X, y_int)
    assert list(clf.classes_) == [-3, 7]
    assert set(clf.predict(X)) <= {-3, 7}


# ---------------------------------------------------------------------------- accuracy
def test_cross_validated_accuracy_well_above_chance(lfw):
    """Reduced acceptance test: 3-fold stratified CV on 90 images, 2 epochs."""
    X, y = lfw
    idx = np.r_[0:45, 100:145]
    clf = FineTunedClassifier(**dict(FAST, input_size=48, max_epochs=2))
    scores = cross_val_score(clf, X[idx], y[idx],
                             cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.mean() > 0.85, scores


# ---------------------------------------------------------------------------- unfreeze
def test_backbone_weights_are_channels_last_and_predict_as_the_usual_layout(small, fitted):
    """The speed-up of the fine-tuners' channels-last weights changes no prediction, and
    survives training (the optimizer updates the weights in place)."""
    X, _ = small
    convs = [m.weight for m in fitted.module_.trunk.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # (e.g. the 3x3 stem: a real change)
    proba = fitted.predict_proba(X)
    fitted.module_.trunk.to(memory_format=torch.contiguous_format)
    try:
        np.testing.assert_allclose(fitted.predict_proba(X), proba, atol=1e-5)
    finally:
        fitted.module_.trunk.to(memory_format=torch.channels_last)


def test_stages_match_backbone_stages(fitted, reference):
    _, stages = reference
    assert fitted.stages_ == [name for name, _ in stages]
    assert fitted.n_stages_ == len(stages) == 5


def test_unfreeze_head_leaves_backbone_unchanged(small, reference):
    state, _ = reference
    X, y = small
    clf = FineTunedClassifier(**dict(FAST, max_epochs=2), unfreeze="head",
                              freeze_epochs=0).fit(X, y)
    assert changed_params(clf, state) == set()
    for name, buf in bn_buffers(clf).items():
        assert torch.equal(buf, state[name]), name


@pytest.fixture(scope="module")
def fitted_all(small):
    """unfreeze='all' from the first epoch, bn='frozen' (the default)."""
    X, y = small
    return FineTunedClassifier(**FAST, unfreeze="all", freeze_epochs=0).fit(X, y)


def test_unfreeze_all_changes_every_trainable_backbone_parameter(fitted_all, reference):
    state, _ = reference
    changed = changed_params(fitted_all, state)
    bn = bn_param_names(fitted_all)
    assert changed == set(trunk_params(fitted_all)) - bn
    assert changed  # sanity


def test_unfreeze_last_stage_only(small, reference):
    state, stages = reference
    X, y = small
    clf = FineTunedClassifier(**FAST, unfreeze=1, freeze_epochs=0).fit(X, y)
    assert clf.stages_[-1] == stages[-1][0]
    last = set(stages[-1][1])
    earlier = {name for _, params in stages[:-1] for name in params}
    changed = changed_params(clf, state)
    assert changed  # the last stage trained
    assert changed <= last
    assert not changed & earlier
    # With bn='frozen' every non-BatchNorm parameter of the last stage trains.
    assert changed == last - bn_param_names(clf)


@pytest.mark.parametrize("unfreeze", [6, 100])
def test_unfreeze_more_than_stages(small, unfreeze):
    X, y = small
    with pytest.raises(ValueError, match=rf"unfreeze={unfreeze}.*5 stages"):
        FineTunedClassifier(**FAST, unfreeze=unfreeze).fit(X, y)


# ---------------------------------------------------------------------------- freeze_epochs
def test_freeze_epochs_covering_training_leaves_backbone_unchanged(small, reference):
    state, _ = reference
    X, y = small
    clf = FineTunedClassifier(**FAST, unfreeze="all", freeze_epochs=1).fit(X, y)
    assert changed_params(clf, state) == set()
    assert clf.n_iter_ == 1


def test_freeze_epochs_then_backbone_trains(small, reference):
    state, _ = reference
    X, y = small
    clf = FineTunedClassifier(**dict(FAST, max_epochs=2), unfreeze="all",
                              freeze_epochs=1).fit(X, y)
    assert changed_params(clf, state)
    assert clf.n_iter_ == 2


# ---------------------------------------------------------------------------- bn
def test_bn_frozen_keeps_running_statistics(fitted_all, reference):
    state, _ = reference
    buffers = bn_buffers(fitted_all)
    assert buffers
    for name, buf in buffers.items():
        assert torch.equal(buf, state[name]), name
    # Frozen BatchNorm layers stay in inference mode while the net trains.
    fitted_all.module_.train()
    try:
        modes = [m.training for m in fitted_all.module_.trunk.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    finally:
        fitted_all.module_.eval()
    assert not any(modes)


def test_bn_train_updates_running_statistics(small, reference):
    state, _ = reference
    X, y = small
    clf = FineTunedClassifier(**FAST, unfreeze="all", freeze_epochs=0, bn="train").fit(X, y)
    buffers = bn_buffers(clf)
    changed = [name for name, buf in buffers.items() if not torch.equal(buf, state[name])]
    assert len(changed) == len(buffers)
    # Their scale and shift train too.
    assert bn_param_names(clf) <= changed_params(clf, state)


# ---------------------------------------------------------------------------- learning rates
def lr_by_param(clf):
    """{parameter name (relative to the module): lr of its optimizer group}."""
    lr_of = {}
    for group in clf.net_.optimizer_.param_groups:
        for p in group["params"]:
            assert id(p) not in lr_of, "a parameter is in two optimizer groups"
            lr_of[id(p)] = group["lr"]
    names = dict(clf.module_.named_parameters())
    assert len(lr_of) == len(names)  # every parameter is optimised
    return {name: lr_of[id(p)] for name, p in names.items()}


def test_backbone_lr_mult(small):
    X, y = small
    clf = FineTunedClassifier(**FAST, learning_rate=2e-3, backbone_lr_mult=0.25,
                              layer_decay=None, lr_schedule="constant").fit(X, y)
    lrs = lr_by_param(clf)
    for name, lr in lrs.items():
        expected = 2e-3 * 0.25 if name.startswith("trunk.") else 2e-3
        assert lr == pytest.approx(expected), name
    assert any(name.startswith("head.") for name in lrs)


def test_layer_decay_gives_earlier_stages_smaller_rates(small, reference):
    _, stages = reference
    X, y = small
    clf = FineTunedClassifier(**FAST, learning_rate=2e-3, backbone_lr_mult=0.5,
                              layer_decay=0.5, lr_schedule="constant").fit(X, y)
    lrs = lr_by_param(clf)
    n = len(stages)
    stage_lrs = []
    for k, (stage, params) in enumerate(stages):
        expected = 2e-3 * 0.5 * 0.5 ** (n - 1 - k)
        for p in params:
            assert lrs["trunk.model." + p] == pytest.approx(expected), (stage, p)
        stage_lrs.append(expected)
    assert stage_lrs == sorted(stage_lrs) and len(set(stage_lrs)) == n
    head = [lr for name, lr in lrs.items() if name.startswith("head.")]
    assert head and all(lr == pytest.approx(2e-3) for lr in head)


@pytest.mark.parametrize("optimizer, default_lr", [("adamw", 1e-3), ("sgd", 1e-2)])
def test_learning_rate_none_uses_optimizer_default(small, optimizer, default_lr):
    # learning_rate=None is accepted by the shared constraints (CNNClassifier: "the
    # optimizer's usual default"), so FineTunedClassifier must handle it too.
    X, y = small
    clf = FineTunedClassifier(**FAST, optimizer=optimizer, learning_rate=None,
                              backbone_lr_mult=0.5, layer_decay=None,
                              lr_schedule="constant").fit(X, y)
    lrs = lr_by_param(clf)
    for name, lr in lrs.items():
        expected = default_lr * 0.5 if name.startswith("trunk.") else default_lr
        assert lr == pytest.approx(expected), name


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "constant"])
def test_lr_schedules_fit(small, schedule):
    X, y = small
    clf = FineTunedClassifier(**dict(FAST, max_epochs=2), lr_schedule=schedule,
                              layer_decay=None).fit(X, y)
    assert clf.n_iter_ == 2
    assert np.all(np.isfinite(clf.loss_curve_))
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    # The schedule hands the optimizer back at its configured rates.
    group_lrs = sorted(g["lr"] for g in clf.net_.optimizer_.param_groups)
    assert group_lrs == pytest.approx(sorted([1e-3 * 0.1, 1e-3]))


def test_cosine_factor():
    decay = CosineDecay(total_steps=100)
    assert decay._factor(0) == pytest.approx(1.0)
    assert decay._factor(50) == pytest.approx(0.5)
    assert decay._factor(100) == pytest.approx(0.0, abs=1e-12)
    values = [decay._factor(s) for s in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_onecycle_factor():
    cycle = CosineDecay(total_steps=100, warmup_fraction=0.3)
    assert cycle._factor(0) == pytest.approx(0.04)
    values = [cycle._factor(s) for s in range(101)]
    assert int(np.argmax(values)) == 30
    assert values[30] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:30], values[1:31]))
    assert all(a >= b for a, b in zip(values[30:], values[31:]))
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------- training options
def test_early_stopping_restores_best_weights(lfw):
    X, y = lfw
    idx = np.r_[0:24, 100:124]
    clf = FineTunedClassifier(**dict(FAST, max_epochs=4), early_stopping=True,
                              validation_fraction=0.25, n_iter_no_change=2, tol=0.0,
                              learning_rate=0.02, lr_schedule="constant",
                              freeze_epochs=0)  # (no probe: this tests the engine's stopping)
    clf.fit(X[idx], y[idx])
    valid_loss = [h["valid_loss"] for h in clf.history_]
    assert len(valid_loss) == clf.n_iter_ <= 4
    assert clf.validation_scores_ is not None and len(clf.validation_scores_) == clf.n_iter_
    stopper = dict(clf.net_.callbacks_)["early_stopping"]
    assert stopper.load_best
    assert stopper.best_epoch_ == int(np.argmin(valid_loss)) + 1
    # This large learning rate makes the validation loss blow up after the first
    # epoch, so the weights that come back are not those of the last epoch.
    assert stopper.best_epoch_ < clf.n_iter_
    state = clf.module_.state_dict()
    for name, value in stopper.best_model_weights_.items():
        assert torch.equal(state[name], value), name


@pytest.fixture(scope="module")
def imbalanced(lfw):
    """24 faces and 8 non-faces."""
    X, y = lfw
    idx = np.r_[0:24, 100:108]
    return X[idx], y[idx]


def test_class_weight_balanced(imbalanced):
    X, y = imbalanced
    balanced = FineTunedClassifier(**FAST, class_weight="balanced").fit(X, y)
    # 'balanced' is the same as the matching per-image weights ...
    weighted = FineTunedClassifier(**FAST).fit(X, y,
                                               sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(balanced.predict_proba(X), weighted.predict_proba(X), atol=1e-6)
    # ... and not the same as no weights.
    plain = FineTunedClassifier(**FAST).fit(X, y)
    assert not np.allclose(balanced.predict_proba(X), plain.predict_proba(X))


def test_class_weight_dict_with_string_labels(small):
    X, y = small
    by_class = FineTunedClassifier(**FAST, class_weight={"face": 3.0, "other": 1.0}).fit(X, y)
    by_image = FineTunedClassifier(**FAST).fit(X, y, sample_weight=np.where(y == "face", 3.0, 1.0))
    np.testing.assert_allclose(by_class.predict_proba(X), by_image.predict_proba(X), atol=1e-6)


def test_sample_weight_ones_is_no_weights(small, fitted):
    X, y = small
    clf = FineTunedClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(clf.predict_proba(X), fitted.predict_proba(X))


def test_deterministic_with_random_state(small, fitted):
    X, y = small
    again = FineTunedClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    # A random head trained by minibatches (no probe, which is deterministic whatever the
    # seed when it is kept): another seed, another network.
    one = FineTunedClassifier(**FAST, freeze_epochs=0).fit(X, y)
    np.testing.assert_array_equal(FineTunedClassifier(**FAST, freeze_epochs=0).fit(X, y)
                                  .predict_proba(X), one.predict_proba(X))
    other = FineTunedClassifier(**dict(FAST, random_state=1), freeze_epochs=0).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), one.predict_proba(X))


def test_pickle_round_trip(small, fitted):
    X, _ = small
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(restored.classes_, fitted.classes_)
    assert restored.stages_ == fitted.stages_


def test_joblib_round_trip(small, fitted, tmp_path):
    X, _ = small
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))


def test_warm_start_continues(small, reference):
    state, _ = reference
    X, y = small
    clf = FineTunedClassifier(**FAST, warm_start=True, freeze_epochs=1)
    clf.fit(X, y)
    assert clf.n_iter_ == 1
    assert changed_params(clf, state) == set()  # the first fit trained the head only
    net, first = clf.net_, clf.predict_proba(X)
    clf.fit(X, y)
    assert clf.net_ is net
    assert clf.n_iter_ == 2 and len(clf.history_) == 2
    assert changed_params(clf, state)  # the continued fit starts unfrozen
    assert not np.allclose(clf.predict_proba(X), first)


def test_clone_is_unfitted(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    for attr in ("net_", "classes_", "stages_", "n_stages_", "preprocess_"):
        assert not hasattr(copy, attr), attr
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((2, 25, 25)))
    check_is_fitted(fitted)


# ---------------------------------------------------------------------------- bad input
def test_single_class(small):
    X, _ = small
    with pytest.raises(ValueError, match="class"):
        FineTunedClassifier(**FAST).fit(X, np.full(len(X), "face"))


def test_negative_tta(small):
    X, y = small
    with pytest.raises(ValueError, match="tta"):
        FineTunedClassifier(**FAST, tta=-1).fit(X, y)


def test_augment_not_callable(small):
    X, y = small
    with pytest.raises(ValueError, match="augment"):
        FineTunedClassifier(**FAST, augment=3).fit(X, y)


def test_unknown_augment_preset(small):
    X, y = small
    with pytest.raises(ValueError, match="augment"):
        FineTunedClassifier(**FAST, augment="heavy").fit(X, y)


def test_unknown_backbone_lists_installed(small):
    X, y = small
    with pytest.raises(PluginNotFoundError, match="no_such_net") as info:
        FineTunedClassifier(**FAST, backbone="no_such_net").fit(X, y)
    assert "efficientnet_lite0" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file(small, tmp_path):
    X, y = small
    paths = []
    for i, im in enumerate(X[:6]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.rint(im * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    missing = str(tmp_path / "not_there.png")
    paths[3] = missing
    with pytest.raises(InputError, match="not_there.png"):
        FineTunedClassifier(**FAST).fit(paths, y[:6])


def test_missing_file_in_predict(small, fitted, tmp_path):
    missing = str(tmp_path / "gone.png")
    with pytest.raises(InputError, match="gone.png"):
        fitted.predict([missing])


def test_nan_pixels(small, fitted):
    X, y = small
    X = X.copy()
    X[4, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        FineTunedClassifier(**FAST).fit(X, y)
    with pytest.raises(InputError, match="NaN"):
        fitted.predict_proba(X)
