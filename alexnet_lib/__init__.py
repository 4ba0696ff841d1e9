"""alexnet_lib: the library behind the AlexNet book.

Each module is the home of one part of the paper (see the README's map):
``model`` (Section 3.5, the architecture), ``lrn`` (Section 3.3), ``data`` (datasets and loaders).
"""

from .lrn import LRN_PRESETS, LocalResponseNorm, LRNConfig, local_response_norm
from .model import AlexNet, format_layer_table, layer_table

__all__ = [
    "AlexNet",
    "LocalResponseNorm",
    "LRNConfig",
    "LRN_PRESETS",
    "format_layer_table",
    "layer_table",
    "local_response_norm",
]
__version__ = "0.1.0"
