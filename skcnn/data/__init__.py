"""Turning accepted inputs into float image arrays of shape ``(N, C, H, W)``."""

from .arrays import DATA_FORMATS, images_to_array, infer_data_format

__all__ = ["DATA_FORMATS", "images_to_array", "infer_data_format"]
