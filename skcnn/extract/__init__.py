"""Features of many image files, in resumable shards, locally or on a Dask cluster.

:func:`extract_features` splits a list of image paths into shards of
``shard_size`` images and runs :class:`~skcnn.PretrainedFeatures` over each,
writing one ``.npy`` file and one ``.json`` index per shard into ``output``::

    output/
      manifest.json          settings (backbone, weights, layer, pooling, preprocessing,
                             precision), the absolute paths in shard order, the
                             shard plan, and how the given list maps onto it
      shards/00000-<sha>.npy float32 features of the shard's images, in order
      shards/00000.json      the shard's paths, row count, .npy file name and SHA-256

A shard counts as finished when its index exists and the checksum matches,
so a run that stopped (a killed worker, a bad file, Ctrl-C) is resumed by
running the same call again: finished shards are skipped, the others are
computed, and the result is the same as that of an uninterrupted run.

With ``client=None`` the shards run one after the other in this process;
with a ``dask.distributed.Client`` each shard is a task, every worker loads
the network once and keeps it for the shards it gets, and workers write
their shards directly (``output`` must be on a file system the workers
share with the client; on one machine it always is). Dask is imported only
when a client is given.
"""

from ._api import ExtractedFeatures, extract_features, load_features

__all__ = ["extract_features", "load_features", "ExtractedFeatures"]
