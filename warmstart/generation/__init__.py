"""Generation settings, framework-free: :class:`GenerationConfig` (transformers' fields, validation,
``generation_config.json`` both ways). Each framework's search reads them: PyTorch's is
:mod:`warmstart.torch.generation`.
"""

from .config import DEFAULT_MAX_NEW_TOKENS, GENERATION_CONFIG_NAME, GenerationConfig
from .settings import GenerationSettings, apply_options, cap_length

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "GENERATION_CONFIG_NAME",
    "GenerationConfig",
    "GenerationSettings",
    "apply_options",
    "cap_length",
]
