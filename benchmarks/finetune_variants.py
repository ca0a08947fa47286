"""Head-room of the fine-tuning variants issue 24 lists, on a real photo set (hand-written PyTorch).

The default ``FineTunedClassifier`` ends about one image above its linear probe on
caltech20 (``benchmarks/finetune_recipe.py``). Before building a variant into the
recipe, this script measures what it could give at best, on one stratified 70/30 split
(random_state=0) of ``../shared/data/caltech20``, with the EfficientNet-Lite0 backbone
(offline weights) and scikit-learn's ``StandardScaler + LogisticRegression`` as the probe:

* **probe variants**: the penalty ``C``; horizontally flipped training images as extra
  rows; flip test-time augmentation (mean of the two views' probabilities); the mean of
  the two views' features; features at another input size (FixRes: predict larger);
* **fine-tuning the late stages on cached activations**: the images run once through
  the frozen early stages (as the probe's features do), their activations (and those of
  the flipped images) are kept, and only the last stages and the head train, at the full
  224 pixels, from the probe (LP-FT), with BatchNorm frozen, AdamW and one-cycle. Each
  epoch costs the late stages only. Printed per epoch: the training loss and the test
  accuracy; at the end every WiSE-FT weight ``a``, the mean of the weights over the last
  half of the epochs (SWA; BatchNorm is frozen, so it needs no statistics pass) and the
  output-space ensemble, all on the **test** split (an oracle choice: an upper bound of
  what a validation choice gets).

Every line gives its accuracy and its difference from the plain probe, measured in the
same run. Run it on two cores::

    OMP_NUM_THREADS=2 python benchmarks/finetune_variants.py [--epochs 8] [--split 4]

``--split N``: the first N of the backbone's 7 block groups stay frozen and cached (4:
blocks 4-6 and the last 1x1 convolution train, ``unfreeze=2`` in skcnn's stages).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torchvision import transforms

from skcnn import PretrainedFeatures
from skcnn.datasets import load_image_folder
from skcnn.pretrained.backbones import EfficientNetLite0

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech20"
WISE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def accuracy(proba_or_labels, y):
    labels = proba_or_labels.argmax(1) if np.ndim(proba_or_labels) == 2 else proba_or_labels
    return float(np.mean(np.asarray(labels) == y))


def fit_probe(features, y, C=1.0):
    scaler = StandardScaler().fit(features)
    return scaler, LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(features), y)


def probe_variants(paths_train, y_train, paths_test, y_test, sizes, report):
    """The probe's variants, on skcnn's own PretrainedFeatures."""
    def features(size, paths, flip):
        images = [Image.open(p).convert("RGB") for p in paths]
        if flip:
            images = [ImageOps.mirror(image) for image in images]
        return extractor[size].transform(images)

    extractor = {size: PretrainedFeatures(input_size=size, verbose=0).fit(paths_train[:2])
                 for size in (224, *sizes)}
    train, test = features(224, paths_train, False), features(224, paths_test, False)
    train_flip, test_flip = features(224, paths_train, True), features(224, paths_test, True)
    for C in (1.0, 0.03, 0.1, 0.3, 3.0):  # C=1 (the plain probe) first
        scaler, model = fit_probe(train, y_train, C)
        proba = model.predict_proba(scaler.transform(test))
        proba_flip = model.predict_proba(scaler.transform(test_flip))
        report(f"probe C={C}", accuracy(proba, y_test))
        report(f"probe C={C}, flip TTA", accuracy(proba + proba_flip, y_test))
        scaler, model = fit_probe(np.vstack([train, train_flip]),
                                  np.concatenate([y_train, y_train]), C)
        report(f"probe C={C}, flipped rows", accuracy(model.predict(scaler.transform(test)), y_test))
        scaler, model = fit_probe((train + train_flip) / 2, y_train, C)
        report(f"probe C={C}, mean of the views' features",
               accuracy(model.predict(scaler.transform((test + test_flip) / 2)), y_test))
    for size in sizes:
        scaler, model = fit_probe(features(size, paths_train, False), y_train)
        report(f"probe C=1, features at {size} px",
               accuracy(model.predict(scaler.transform(features(size, paths_test, False))), y_test))


class LateStages(nn.Module):
    """The backbone after block group ``split``, pooled, and a linear head."""

    def __init__(self, model, split, head):
        super().__init__()
        self.blocks = nn.Sequential(*model.blocks[split:])
        self.conv_head, self.bn2, self.head = model.conv_head, model.bn2, head

    def forward(self, activations):
        return self.head(self.bn2(self.conv_head(self.blocks(activations))).mean((2, 3)))


def late_stage_finetune(paths_train, y_train, paths_test, y_test, args, report):
    model = EfficientNetLite0().load().model.eval()
    preprocess = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.5] * 3, [0.5] * 3)])

    def early(x):
        x = model.bn1(model.conv_stem(x))
        return model.blocks[:args.split](x)

    def activations(paths):
        plain, flipped = [], []
        with torch.inference_mode():
            for start in range(0, len(paths), 64):
                batch = torch.stack([preprocess(Image.open(p).convert("RGB"))
                                     for p in paths[start:start + 64]])
                plain.append(early(batch))
                flipped.append(early(batch.flip(3)))
        return torch.cat(plain), torch.cat(flipped)

    started = time.perf_counter()
    train, train_flip = activations(paths_train)
    test, _ = activations(paths_test)
    print(f"early-stage activations {tuple(train.shape[1:])} of {len(train) + len(test)} images "
          f"(and the training images flipped): {time.perf_counter() - started:.1f} s", flush=True)
    classes, y_train_i = np.unique(y_train, return_inverse=True)
    y_test_i = np.searchsorted(classes, y_test)

    net = LateStages(model, args.split, nn.Identity())  # pooled features until the probe is fit

    def outputs(inputs):
        with torch.inference_mode():
            return torch.cat([net(inputs[i:i + 128]) for i in range(0, len(inputs), 128)])

    scaler, probe = fit_probe(outputs(train).numpy(), y_train_i)
    net.head = nn.Linear(model.num_features, len(classes))
    with torch.no_grad():  # the scaling folded into the head
        weight = probe.coef_ / scaler.scale_
        net.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        net.head.bias.copy_(torch.as_tensor(probe.intercept_ - weight @ scaler.mean_,
                                            dtype=torch.float32))
    start_state = {k: v.clone() for k, v in net.state_dict().items()}
    report("late stages: the probe (a=0)", accuracy(outputs(test).numpy(), y_test_i))

    trainable = [p for name, p in net.named_parameters() if ".bn" not in name
                 and not name.startswith("bn2")]
    for p in net.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    batch_size, n = 32, len(train)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * -(-n // batch_size), pct_start=0.1)
    criterion = nn.CrossEntropyLoss()
    targets = torch.as_tensor(y_train_i)
    generator = torch.Generator().manual_seed(0)
    swa_state, swa_count = None, 0  # the mean of the weights after each epoch of the last half
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        net.eval()  # BatchNorm frozen (its statistics and affine stay ImageNet's)
        order, total = torch.randperm(n, generator=generator), 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], train_flip[idx], train[idx])
            loss = criterion(net(batch), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        if epoch > args.epochs // 2:  # BatchNorm is frozen, so no statistics pass is needed
            swa_count += 1
            current = net.state_dict()
            swa_state = {k: v.clone() for k, v in current.items()} if swa_state is None else {
                k: swa_state[k] + (v - swa_state[k]) / swa_count if v.is_floating_point()
                else v for k, v in current.items()}
        print(f"  epoch {epoch}: training loss {total / n:.4f}, test accuracy "
              f"{accuracy(outputs(test).numpy(), y_test_i):.4f}, "
              f"{(time.perf_counter() - started) / epoch:.1f} s/epoch", flush=True)
    end_state = {k: v.clone() for k, v in net.state_dict().items()}
    finetuned = outputs(test)
    for a in WISE_WEIGHTS[1:]:
        net.load_state_dict({k: torch.lerp(start_state[k], v, a) if v.is_floating_point() else v
                             for k, v in end_state.items()})
        report(f"late stages: WiSE-FT a={a} (oracle)", accuracy(outputs(test).numpy(), y_test_i))
    net.load_state_dict(swa_state)
    report(f"late stages: SWA of the last {swa_count} epochs",
           accuracy(outputs(test).numpy(), y_test_i))
    net.load_state_dict(start_state)
    ensemble = outputs(test).softmax(1) + finetuned.softmax(1)
    report("late stages: output ensemble of a=0 and a=1", accuracy(ensemble.numpy(), y_test_i))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--split", type=int, default=4, choices=range(1, 7))
    parser.add_argument("--sizes", default="256,288", help="other feature sizes for the probe")
    parser.add_argument("--skip-probe-variants", action="store_true")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} is not a folder; pass --data <image folder>.")
    paths, names = (np.asarray(part) for part in load_image_folder(args.data)[:2])
    labels = np.unique(names, return_inverse=True)[1]  # 0..k-1, as the argmax of probabilities
    X_train, X_test, y_train, y_test = train_test_split(
        paths, labels, test_size=0.3, stratify=labels, random_state=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(X_train)} "
          f"training / {len(X_test)} test images, {len(np.unique(labels))} classes", flush=True)
    baseline = {}

    def report(name, value):
        baseline.setdefault("probe", value)  # the first line is the plain probe
        print(f"{name:<48} accuracy {value:.4f}  {100 * (value - baseline['probe']):+.1f} points",
              flush=True)

    if not args.skip_probe_variants:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        probe_variants(X_train, y_train, X_test, y_test, sizes, report)
    late_stage_finetune(X_train, y_train, X_test, y_test, args, report)


if __name__ == "__main__":
    main()
