"""One ``generate`` call's settings, prepared once for every framework's search.

:func:`make_plan` merges the call's options into a copy of the settings, validates them, resolves
the lengths to totals that include the prompt (``max_new_tokens`` / ``min_new_tokens`` / the
default, as transformers does) and lists the logits processors the settings ask for, by name and
settings, in the order transformers' ``generate`` applies them. A framework's search binds each
name to its own function (:mod:`warmstart.torch.generation.processors`,
:mod:`warmstart.tf.processors`, :mod:`warmstart.flax.generation`); nothing here depends on a
framework. :data:`NOT_ON_SIDE` lists what each side does not do, and :func:`check_side` refuses it
with one error for all sides.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..families import SIDES  # the frameworks' searches, with the names users read
from .config import GenerationConfig

ProcessorSpec = tuple[str, dict[str, Any]]
"""A logits processor by name (its function's name on every side) and its settings."""

NOT_ON_SIDE: dict[str, tuple[str, ...]] = {
    "torch": (),
    "tf": (
        "encoder_repetition_penalty",
        "encoder_no_repeat_ngram_size",
        "bad_words_ids",
        "sequence_bias",
        "exponential_decay_length_penalty",
        "min_p",
        "top_h",
        "typical_p",
        "epsilon_cutoff",
        "eta_cutoff",
        "prompt_lookup_num_tokens",
        "max_time",
        "output_scores",
        "output_logits",
        "renormalize_logits",
    ),
}
NOT_ON_SIDE["flax"] = (*NOT_ON_SIDE["tf"], "beam_sampling")
"""The settings each side's generate refuses (at any value but the default): ``beam_sampling``
stands for ``do_sample=True`` with ``num_beams > 1``."""

_DEFAULTS = GenerationConfig()


class UnsupportedOption(NotImplementedError, ValueError):
    """A generation setting that this side's search does not implement (another side does)."""


ENCODER_PROCESSORS = ("encoder_repetition_penalty", "encoder_no_repeat_ngram")
"""Processors that also read the encoder's input ids (bound by the framework's search)."""


@dataclass(frozen=True)
class Plan:
    """Prepared settings: ``config`` with total lengths, the prompt length, the processors."""

    config: GenerationConfig
    prompt_length: int
    processors: tuple[ProcessorSpec, ...]

    def key(self) -> str:
        """What a compiled search reads of the plan (processors, lengths, beams, special ids), as
        one hashable string: equal keys may share a compiled loop."""
        c = self.config
        search = (c.max_length, c.pad_token_id, c.eos_token_id, c.num_beams, c.do_sample)
        beams = (c.num_return_sequences, c.length_penalty, c.early_stopping)
        return repr((self.prompt_length, self.processors, search, beams))

    @property
    def search(self) -> str:
        """``"beam"``, ``"sample"``, ``"lookup"`` (prompt lookup decoding) or ``"greedy"``."""
        c = self.config
        if c.num_beams > 1:
            return "beam"
        if c.do_sample:
            return "sample"
        return "lookup" if c.prompt_lookup_num_tokens is not None else "greedy"

    @property
    def rows_per_input(self) -> int:
        """Rows each input expands to: its beams, or its returned sequences."""
        return max(self.config.num_beams, self.config.num_return_sequences)


def make_plan(
    config: GenerationConfig | None, prompt_length: int, side: str = "torch", **options: Any
) -> Plan:
    """Merge ``options`` into a copy of ``config`` (not modified), validate, resolve the lengths
    and list the processors.

    Args:
        config: base settings (default: ``GenerationConfig()``).
        prompt_length: tokens in each row before generation starts (1: the start token).
        side: the search that will run the plan (a key of :data:`SIDES`); what it does not do is
            refused.
        options: settings that override those of ``config`` (``max_new_tokens=5``, ...).

    Returns:
        The plan.

    Raises:
        ValueError: an unknown option, an invalid setting, a transformers option this package
            does not implement, or a prompt that leaves nothing to generate.
        UnsupportedOption: a setting that ``side`` does not implement.
    """
    config = copy.deepcopy(config) if config is not None else GenerationConfig()
    unknown = config.update(**options)
    if unknown:
        raise ValueError(
            f"Unknown generation options {sorted(unknown)}; pass fields of GenerationConfig."
        )
    config.validate()
    config.check_implemented()
    check_side(config, side)
    resolve_lengths(config, prompt_length)
    if prompt_length >= config.max_length:
        raise ValueError(
            f"The decoder prompt already has {prompt_length} tokens and `max_length` is "
            f"{config.max_length}, so nothing can be generated; raise `max_length` or set "
            "`max_new_tokens`."
        )
    return Plan(config, prompt_length, tuple(processor_specs(config, prompt_length)))


def check_side(config: GenerationConfig, side: str) -> None:
    """Refuse the settings of ``config`` that ``side`` does not implement (:data:`NOT_ON_SIDE`).

    Raises:
        UnsupportedOption: naming each such setting, the side, and the sides that have it.
    """
    found = [name for name in NOT_ON_SIDE[side] if _in_use(config, name)]
    if not found:
        return
    others = [SIDES[s] for s in SIDES if not set(found) & set(NOT_ON_SIDE[s])]
    where = " or ".join(others)
    shown = ", ".join(_shown(config, name) for name in found)
    raise UnsupportedOption(
        f"The {SIDES[side]} generate does not implement {shown} (the {where} side has it); "
        f"unset it, or generate with the {where} model."
    )


def _in_use(c: GenerationConfig, name: str) -> bool:
    if name == "beam_sampling":
        return bool(c.do_sample) and c.num_beams > 1
    return getattr(c, name) != getattr(_DEFAULTS, name)


def _shown(c: GenerationConfig, name: str) -> str:
    if name == "beam_sampling":
        return "do_sample=True with num_beams > 1 (beam sampling)"
    return f"{name}={getattr(c, name)!r}"


def resolve_lengths(config: GenerationConfig, prompt_length: int) -> GenerationConfig:
    """Make ``max_length`` / ``min_length`` totals that include the prompt, in place (a no-op on
    lengths already resolved)."""
    config.max_length = config.max_total_length(prompt_length)
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_length
    return config


def processor_specs(c: GenerationConfig, prompt_length: int) -> list[ProcessorSpec]:
    """The controls ``c`` asks for, in the order transformers' ``generate`` applies them.

    Order: sequence bias, encoder repetition penalty, repetition penalty, no-repeat n-gram,
    encoder no-repeat n-gram, bad words, min length, min new tokens, forced bos, forced eos,
    invalid-value removal, exponential decay length penalty, suppressed tokens, tokens suppressed
    at the start; then, only when sampling, the warpers (:func:`sampling_specs`); last,
    renormalization. Min-length controls are left out when there is no eos.

    Raises:
        ValueError: ``exponential_decay_length_penalty`` without an eos.
    """
    eos = c.eos_ids()
    out = _penalties(c, eos, prompt_length)
    if c.exponential_decay_length_penalty is not None:
        if eos is None:
            raise ValueError(
                "`exponential_decay_length_penalty` makes eos more likely, but no "
                "`eos_token_id` is set; set one, or unset the penalty."
            )
        start, factor = c.exponential_decay_length_penalty
        settings = {"start": start, "factor": factor, "prompt_length": prompt_length}
        out.append(("exponential_decay_length_penalty", {**settings, "eos_token_id": eos}))
    if c.suppress_tokens is not None:
        out.append(("suppress_tokens", {"token_ids": c.suppress_tokens}))
    if c.begin_suppress_tokens is not None:
        # The first generated step, one later when a forced bos takes it (single-token prompts).
        late = prompt_length == 1 and c.forced_bos_token_id is not None
        begin = prompt_length + 1 if late else prompt_length
        out.append(
            ("begin_suppress_tokens", {"token_ids": c.begin_suppress_tokens, "begin_index": begin})
        )
    if c.do_sample:
        out.extend(sampling_specs(c, eos))
    if c.renormalize_logits:
        out.append(("renormalize", {}))
    return out


def _penalties(
    c: GenerationConfig, eos: list[int] | None, prompt_length: int
) -> list[ProcessorSpec]:
    """The controls before the length penalty: biases, penalties, bans, forced tokens."""
    wanted: list[tuple[bool, str, dict[str, Any]]] = [
        (c.sequence_bias is not None, "sequence_bias", {"biases": c.sequence_bias}),
        (
            c.encoder_repetition_penalty != 1.0,
            "encoder_repetition_penalty",
            {"penalty": c.encoder_repetition_penalty},
        ),
        (c.repetition_penalty != 1.0, "repetition_penalty", {"penalty": c.repetition_penalty}),
        (c.no_repeat_ngram_size > 0, "no_repeat_ngram", {"ngram_size": c.no_repeat_ngram_size}),
        (
            c.encoder_no_repeat_ngram_size > 0,
            "encoder_no_repeat_ngram",
            {"ngram_size": c.encoder_no_repeat_ngram_size},
        ),
        (
            c.bad_words_ids is not None,
            "bad_words",
            {"bad_words_ids": c.bad_words_ids, "eos_token_id": eos},
        ),
        (
            eos is not None and c.min_length > 0,
            "min_length",
            {"length": c.min_length, "eos_token_id": eos},
        ),
        (
            eos is not None and bool(c.min_new_tokens),
            "min_new_tokens",
            {"prompt_length": prompt_length, "count": c.min_new_tokens, "eos_token_id": eos},
        ),
        (c.forced_bos_token_id is not None, "forced_bos", {"token_id": c.forced_bos_token_id}),
        (
            c.forced_eos_token_id is not None,
            "forced_eos",
            {
                "max_length": c.max_total_length(prompt_length),
                "eos_token_id": c.forced_eos_token_id,
            },
        ),
        (c.remove_invalid_values, "remove_invalid_values", {}),
    ]
    return [(name, settings) for on, name, settings in wanted if on]


def sampling_specs(c: GenerationConfig, eos: list[int] | None) -> list[ProcessorSpec]:
    """The sampling warpers in transformers' order: temperature, top-h, top-k, top-p, min-p,
    typical-p, epsilon and eta cutoffs."""
    # Beam sampling keeps one token more than there are eos ids, so a beam can always go on.
    keep = (len(eos) + 1 if eos else 2) if c.num_beams > 1 else 1
    wanted: list[tuple[bool, str, dict[str, Any]]] = [
        (c.temperature != 1.0, "temperature", {"value": float(c.temperature)}),
        (c.top_h is not None, "top_h", {"h": c.top_h}),
        (bool(c.top_k), "top_k", {"k": c.top_k, "min_tokens_to_keep": keep}),
        (c.top_p < 1.0, "top_p", {"p": float(c.top_p), "min_tokens_to_keep": keep}),
        (c.min_p is not None, "min_p", {"p": c.min_p, "min_tokens_to_keep": keep}),
        (c.typical_p < 1.0, "typical_p", {"mass": float(c.typical_p), "min_tokens_to_keep": keep}),
        (
            0.0 < c.epsilon_cutoff < 1.0,
            "epsilon_cutoff",
            {"epsilon": float(c.epsilon_cutoff), "min_tokens_to_keep": keep},
        ),
        (
            0.0 < c.eta_cutoff < 1.0,
            "eta_cutoff",
            {"epsilon": float(c.eta_cutoff), "min_tokens_to_keep": keep},
        ),
    ]
    return [(name, settings) for on, name, settings in wanted if on]
