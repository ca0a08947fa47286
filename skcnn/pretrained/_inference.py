"""Batched inference over an image dataset: eval mode, inference_mode, channels-last, autocast."""

import numpy as np
import torch

from .._progress import tqdm
from ..data.transforms import iterate_batches
from ..utils._hardware import default_num_workers, resolve_precision

__all__ = ["resolve_batch_size", "run_model"]


def resolve_batch_size(batch_size, device):
    """``'auto'``: 32 images per batch on the CPU, 256 on a GPU."""
    if batch_size != "auto":
        return int(batch_size)
    return 256 if device.type in ("cuda", "mps") else 32


def run_model(model, dataset, n_outputs, *, device, batch_size="auto", precision="auto",
              channels_last=True, num_workers="auto", verbose=1, desc="inference"):
    """Run ``model`` over ``dataset`` (items ``(tensor, index)``) into a float32 array.

    The output array is allocated once; batches stream through, so memory
    does not grow with the number of images beyond it. Nothing is returned
    if any batch fails: the error names the failing item.
    """
    device = torch.device(device)
    batch_size = resolve_batch_size(batch_size, device)
    workers = (default_num_workers(len(dataset), batch_size) if num_workers == "auto"
               else int(num_workers))
    dtype = resolve_precision(precision, device)
    model.eval()
    output = np.empty((len(dataset), n_outputs), dtype=np.float32)
    n_batches = -(-len(dataset) // batch_size)
    progress = tqdm(total=len(dataset), desc=desc, unit="img", leave=False,
                    disable=not verbose or n_batches < 2)
    with torch.inference_mode(), progress:
        for batch, index in iterate_batches(dataset, batch_size, workers):
            batch = batch.to(device, non_blocking=True)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                result = model(batch)
            output[index.numpy()] = result.float().cpu().numpy()
            progress.update(len(index))
    return output
