"""The PyTorch side's speed machinery, outside the model code: the linear layers' product choice
(:mod:`.products`, measured per CPU by :mod:`.cpu`), custom kernels (:mod:`.kernels`: dropout,
attention with dropout, chunked cross-entropy), the recording of attention weights and hidden states
(:mod:`.recording`), fused decode weights (:mod:`.fused`), opt-in ``torch.compile``
(:mod:`.compile`) and reduced-precision weights (:mod:`.quantize`).

The models and layer helpers call the plain-named helpers exported here.
"""

from .kernels import Dropout, Embedding, cross_entropy, dropout
from .products import ACTIVATIONS, Linear, activation, linear, linear_then

__all__ = [
    "ACTIVATIONS",
    "Dropout",
    "Embedding",
    "Linear",
    "activation",
    "cross_entropy",
    "dropout",
    "linear",
    "linear_then",
]
