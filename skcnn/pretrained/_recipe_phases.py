"""The phases of the default fine-tuning recipe, as methods of the fine-tuning estimators:
the backbone's features, the linear probe, the head trained on cached features, the choice
between probe and fine-tuned network (WiSE-FT interpolation) with the probe's refit, and
``recipe_``'s records. :meth:`FineTuningMixin._fit_network` runs them in order."""

import numpy as np
import torch

from .._batches import TensorBatches
from .._progress import tqdm
from ..base import OPTIMIZERS
from ..data.augment import describe_augmentation
from ..utils._random import seeded
from ._inference import resolve_batch_size
from ._interpolate import (
    INTERPOLATION_WEIGHTS,
    choose_interpolation,
    ensemble_outputs,
    interpolate_states,
)
from ._lpft import (
    describe_indices,
    fit_head,
    parameter_snapshot,
    ridge_strength,
    trunk_features,
    validation_score,
)

__all__ = ["RecipePhases"]


class RecipePhases:
    """The recipe's phases (a mixin of :class:`~skcnn.pretrained.finetune.FineTuningMixin`)."""

    def _keep_better(self, net, images, features, targets, valid_idx, criterion, recipe, *,
                     probe, trunk_before, seed, device, valid_views):
        """Choose the network between the probe (``a = 0``) and the fine-tuned one
        (``a = 1``) by their interpolations' scores on the validation images (WiSE-FT,
        :mod:`._interpolate`; ``valid_views``: their views, whose logits are averaged),
        then refit the probe on every training image when the chosen network has a share
        of it."""
        probe_score, probe_state, probe_alpha = probe
        module, head, task = net.module_, net.module_.head, self._task()
        finetuned = parameter_snapshot(module)
        start = {**{"trunk." + k: v for k, v in (trunk_before or {}).items()},
                 **{"head." + k: v for k, v in probe_state.items()}}
        start = {**finetuned, **start}  # (cached head features: the trunk did not change)
        valid = (targets.values[valid_idx], targets.weight[valid_idx])

        def outputs_at(weight):
            module.load_state_dict(interpolate_states(start, finetuned, weight))
            if self._head_from_features():
                with torch.no_grad():
                    return head.eval()(features[valid_idx].to(device)).cpu()
            return sum(net.predict_logits(view) for view in valid_views) / len(valid_views)

        outputs = {a: outputs_at(a) for a in INTERPOLATION_WEIGHTS}
        scores = {a: validation_score(out, *valid, criterion, task) for a, out in outputs.items()}
        evidence = {}
        weight = choose_interpolation(scores, task, evidence)
        ensemble = validation_score(ensemble_outputs(outputs[0.0], outputs[1.0], task), *valid,
                                    criterion, task)
        recipe["phases"].append({
            "phase": "choose", "images": describe_indices(valid_idx),
            "probe": scores[0.0], "finetune": scores[1.0],
            "candidates": [{"weight": a, **scores[a]} for a in INTERPOLATION_WEIGHTS],
            "ensemble": ensemble, "weight": weight, "evidence": evidence})
        recipe["interpolation"] = weight
        recipe["chosen"] = {0.0: "probe", 1.0: "finetune"}.get(weight, "interpolation")
        module.load_state_dict(finetuned)
        if weight == 1.0:
            return
        if trunk_before is not None:
            module.trunk.load_state_dict(trunk_before)
        head.load_state_dict(probe_state)
        with seeded(seed, device):  # refit on every training image of the fit
            fit_head(head.cpu(), features, targets.values, targets.weight, criterion,
                     ridge_alpha=probe_alpha)
        head.to(device)
        recipe["phases"].append({"phase": "refit probe",
                                 "images": describe_indices(np.arange(len(images)))})
        if weight > 0.0:
            module.load_state_dict(interpolate_states(parameter_snapshot(module), finetuned,
                                                      weight))
            recipe["phases"].append({"phase": "interpolate", "weight": weight,
                                     "images": describe_indices(np.arange(len(images)))})

    def _recipe_settings(self, epochs):
        """The start of ``recipe_``: the resolved settings of a fresh fit (data only)."""
        size = int(np.atleast_1d(self.preprocess_.input_size)[-1])
        augment = self._augmentation_choice(torch.zeros((1, 3, size, size)))
        return {"input_size": size, "views": self._n_views(), "max_epochs": int(epochs),
                "augment": describe_augmentation(augment), "dropout": self._head_dropout(),
                "learning_rate": (OPTIMIZERS[self.optimizer][1] if self.learning_rate is None
                                  else self.learning_rate),
                "lr_schedule": self.lr_schedule, "chosen": "finetune", "phases": []}

    def _finetune_phase(self, fit_idx, trained):
        phase = {"phase": "finetune",
                 "trains": "head" if self.unfreeze == "head" else "head and backbone",
                 "epochs": int(trained["n_iter_"])}
        if fit_idx is not None:
            phase["images"] = describe_indices(fit_idx)
        return phase

    def _trunk_features(self, net, images, device):
        """Pooled features of the frozen backbone for every image (a progress bar unless
        ``verbose=0``)."""
        with tqdm(total=len(images), desc=f"{type(self).__name__} features", unit="img",
                  disable=not self.verbose, leave=False) as bar:
            return trunk_features(net.module_, images,
                                  resolve_batch_size("auto", torch.device(device)), device,
                                  progress=bar.update)

    def _fit_probe(self, head, features, targets, fit_idx, valid_idx, criterion, seed, device,
                   recipe):
        """Fit the head on the features of ``fit_idx``; its validation score and weights."""
        head.cpu()
        strength = {}
        if self._task() == "regression" and len(fit_idx) >= 3:  # ridge: its penalty matters
            strength["ridge_alpha"] = ridge_strength(
                features[fit_idx], targets.values[fit_idx], targets.weight[fit_idx])
        with seeded(seed, device):
            n_iter = fit_head(head, features[fit_idx], targets.values[fit_idx],
                              targets.weight[fit_idx], criterion,
                              ridge_alpha=strength.get("ridge_alpha"))
        phase = {"phase": "probe", "images": describe_indices(fit_idx),
                 "lbfgs_evaluations": int(n_iter), **strength}
        score = None
        if valid_idx is not None:
            with torch.no_grad():
                outputs = head.eval()(features[valid_idx])
            score = validation_score(outputs, targets.values[valid_idx],
                                     targets.weight[valid_idx], criterion, self._task())
            phase.update(validation_images=describe_indices(valid_idx), score=score)
        head.to(device)
        recipe["phases"].append(phase)
        return score, parameter_snapshot(head), strength.get("ridge_alpha")

    def _train_head_on_features(self, net, features, targets, fit_idx, valid_idx, *, epochs,
                                seed, device, progress):
        """Train the head alone on cached backbone features (no backbone pass per epoch);
        the returned ``net_`` is the whole network, with the head's history."""
        head_net = self._training_net(net.module_.head, device, seed, {})
        head_net.initialize()

        def part(idx):
            return TensorBatches(features[idx], targets.values[idx], targets.weight[idx])

        trained, interrupted = self._run_training(
            head_net, part(fit_idx), None if valid_idx is None else part(valid_idx),
            epochs=epochs, seed=seed, device=device, augment=None,
            early_stopping=valid_idx is not None, partial=False, resume=False,
            progress=progress)
        net.history = head_net.history
        trained["net_"] = net
        return trained, interrupted

    def _print_recipe(self, recipe):
        parts = [f"{type(self).__name__}: {recipe['max_epochs']} epoch(s)",
                 f"augment={recipe['augment']}"]
        choose = [p for p in recipe["phases"] if p["phase"] == "choose"]
        if choose:
            def show(score):
                return ", ".join(f"{k} {v:.4f}" for k, v in score.items() if k != "correct")
            parts.append(f"validation: probe {show(choose[0]['probe'])}; fine-tuned "
                         f"{show(choose[0]['finetune'])} -> keeps the {_choice_text(recipe)}")
            evidence = choose[0].get("evidence") or {}
            if "p_value" in evidence and evidence["best"] != recipe["interpolation"]:
                parts.append(f"(best candidate a={evidence['best']:.2f}: {evidence['wins']} "
                             f"wins, {evidence['losses']} losses against a=0.50, "
                             f"p={evidence['p_value']:.2f}: not significant)")
        print("; ".join(parts), flush=True)


def _choice_text(recipe):
    """'probe', 'finetune' or 'interpolation a=0.50' (what the recipe kept)."""
    if recipe["chosen"] == "interpolation":
        return f"interpolation a={recipe['interpolation']:.2f}"
    return recipe["chosen"]
