"""Text generation in PyTorch over a model's step callable: greedy search, sampling and beam search.

Model-agnostic and API-compatible with transformers' ``generate``: see
:mod:`warmstart.torch.generation.search` for the ``step`` / ``reorder`` contract, and
:mod:`warmstart.torch.generation.processors` for the logits controls. The settings they read
(:class:`~warmstart.generation.GenerationConfig`) are the framework-free core's.
"""

from ...generation.config import DEFAULT_MAX_NEW_TOKENS, GENERATION_CONFIG_NAME, GenerationConfig
from .lookup import Lookahead
from .processors import Processor, apply_processors, build_processors
from .scores import transition_scores
from .search import (
    GenerateOutput,
    beam_search,
    expand_rows,
    generate,
    greedy,
    greedy_lookup,
    prepare,
    sample,
    start_ids_for,
    stream,
)

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "GENERATION_CONFIG_NAME",
    "GenerateOutput",
    "GenerationConfig",
    "Lookahead",
    "Processor",
    "apply_processors",
    "beam_search",
    "build_processors",
    "expand_rows",
    "generate",
    "greedy",
    "greedy_lookup",
    "prepare",
    "sample",
    "start_ids_for",
    "stream",
    "transition_scores",
]
