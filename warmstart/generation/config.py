"""Generation settings, read from and written to ``generation_config.json``.

:class:`GenerationConfig` carries transformers' field names and defaults for the controls this
package implements. Like transformers' ``GenerationConfig``, it also takes any other keyword
(``GenerationConfig(my_setting=1)``) as an attribute; those live in :attr:`GenerationConfig.extra`
and are written back unchanged, so a file survives a round trip.

transformers settings that this package does not implement (``guidance_scale``,
``output_attentions``, ...) are accepted as attributes too, but :func:`warmstart.generation.generate`
refuses them at any value other than the one that changes nothing (see :data:`UNIMPLEMENTED`).
Settings that only tune transformers' speed, not its results, are accepted and have no effect (see
:data:`NO_EFFECT`); so is ``use_cache``, as warmstart always decodes with its cache.

Lengths follow transformers 5: ``max_length`` and ``min_length`` count the decoder prompt (for an
encoder-decoder model, the start token); ``max_new_tokens`` and ``min_new_tokens`` do not, and win
over their ``*_length`` counterparts when set. With neither ``max_length`` nor ``max_new_tokens``
set, 20 tokens are generated after the prompt (transformers' global default ``max_length=20``,
which it then counts from the end of the prompt).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fields import ExtraFields

GENERATION_CONFIG_NAME = "generation_config.json"
DEFAULT_MAX_NEW_TOKENS = 20

# Where transformers looks for a decoder's own settings inside a composite model config.
_SUB_CONFIG_NAMES = ("decoder", "generator", "text_config")

# transformers' metadata entries, dropped by ``to_json_string(ignore_metadata=True)``.
_METADATA = ("_from_model_config", "_commit_hash", "_original_object_hash", "transformers_version")


UNIMPLEMENTED: dict[str, tuple[Any, ...]] = {
    # transformers GenerationConfig settings warmstart does not implement, each with the values
    # under which transformers generates exactly as without it. generate() refuses any other value.
    "stop_strings": (None,),
    "token_healing": (None, False),
    "guidance_scale": (None, 1),
    "watermarking_config": (None,),
    "output_attentions": (None, False),
    "output_hidden_states": (None, False),
    "cache_implementation": (
        None,
        "dynamic",
        "offloaded",
        "static",
        "offloaded_static",
        "sliding_window",
        "hybrid",
        "hybrid_chunked",
        "offloaded_hybrid",
        "offloaded_hybrid_chunked",
    ),  # every cache but "quantized", which changes the numbers
    "is_assistant": (None, False),
    "use_mtp": (None, False),
    "assistant_early_exit": (None,),
    "speculation_type": (None,),
    # moved out of transformers to hub repositories (custom_generate) or removed
    "num_beam_groups": (None, 1),
    "diversity_penalty": (None, 0),
    "constraints": (None,),
    "force_words_ids": (None,),
    "penalty_alpha": (None, 0),
    "dola_layers": (None,),
    "low_memory": (None, False),
}

NO_EFFECT: tuple[str, ...] = (
    # transformers GenerationConfig settings that change its speed or memory, or only matter with
    # an assistant model (which generate() does not take), never the tokens or outputs: accepted.
    # max_matching_ngram_size is read by prompt lookup decoding, to guess tokens.
    "cache_config",
    "max_cache_len",
    "compile_config",
    "disable_compile",
    "prefill_chunk_size",
    "continuous_batching_config",
    "num_assistant_tokens",
    "num_assistant_tokens_schedule",
    "assistant_confidence_threshold",
    "max_matching_ngram_size",
    "assistant_lookbehind",
    "target_lookbehind",
    "assistant_ensemble_weight",
    "transformers_version",
    "_from_model_config",
)


@dataclass(init=False)
class GenerationConfig(ExtraFields):
    """How to generate: length limits, search strategy, logits controls and special tokens.

    Defaults are transformers' global defaults, except ``max_length``: None (unset), which means
    ``DEFAULT_MAX_NEW_TOKENS`` (20) tokens after the prompt, as transformers treats an unset
    ``max_length``. ``eos_token_id`` and ``forced_eos_token_id`` may be an int or a list of ints;
    ``early_stopping`` is True, False or ``"never"``.

    Built from keywords, as transformers' ``GenerationConfig(**kwargs)``: keywords that are not
    fields become attributes kept in ``extra`` (and so does setting such an attribute later).
    Reading a transformers setting that is neither a field nor set gives None, as in transformers.
    """

    max_length: int | None = None
    max_new_tokens: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    max_time: float | None = None
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    use_cache: bool = True
    prompt_lookup_num_tokens: int | None = None
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    min_p: float | None = None
    top_h: float | None = None
    typical_p: float = 1.0
    epsilon_cutoff: float = 0.0
    eta_cutoff: float = 0.0
    repetition_penalty: float = 1.0
    encoder_repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    encoder_no_repeat_ngram_size: int = 0
    bad_words_ids: list[list[int]] | None = None
    sequence_bias: list[list[Any]] | dict[tuple[int, ...], float] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    remove_invalid_values: bool = False
    exponential_decay_length_penalty: tuple[int, float] | list[Any] | None = None
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    renormalize_logits: bool | None = None
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    output_scores: bool = False
    output_logits: bool | None = None
    return_dict_in_generate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        object.__setattr__(self, "extra", {})
        for f in dataclasses.fields(self):
            if f.name != "extra":
                setattr(self, f.name, kwargs.pop(f.name, f.default))
        self.extra.update(kwargs.pop("extra", None) or {})
        self.extra.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: the extra entries, else None for the
        # transformers settings this class has no field for.
        if name in UNIMPLEMENTED or name in NO_EFFECT:
            return self.__dict__.get("extra", {}).get(name)
        return self._extra_value(name)

    # ----------------------------------------------------------------------------- dict and JSON

    @classmethod
    def from_dict(
        cls, values: dict[str, Any], **kwargs: Any
    ) -> GenerationConfig | tuple[GenerationConfig, dict[str, Any]]:
        """Build a config from a dict such as a parsed ``generation_config.json``.

        Args:
            values: settings by name; names this class does not know go to ``extra``.
            kwargs: settings that override ``values``. ``return_unused_kwargs=True`` returns
                ``(config, {})`` as transformers does (every keyword becomes a setting).

        Returns:
            The config (not validated; call :meth:`validate`).
        """
        from ..hub import DOWNLOAD_ONLY_OPTIONS

        return_unused = kwargs.pop("return_unused_kwargs", False)
        for name in DOWNLOAD_ONLY_OPTIONS:
            kwargs.pop(name, None)
        values = copy.deepcopy({**values, **kwargs})
        known = set(cls.field_names())
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.extra = {k: v for k, v in values.items() if k not in known}
        return (config, {}) if return_unused else config

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name, with the ``extra`` entries merged in at the top level."""
        return self.fields_dict()

    def to_diff_dict(self) -> dict[str, Any]:
        """The settings that differ from ``GenerationConfig()``, and the ``extra`` entries."""
        default = GenerationConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if k not in default or v != default[k]}

    def to_json_string(
        self,
        use_diff: bool = True,
        ignore_metadata: bool = False,
        keys_to_pop: list[str] | None = None,
    ) -> str:
        """The config as JSON text, keys sorted, as transformers writes it.

        Args:
            use_diff: only the settings that differ from the defaults (:meth:`to_diff_dict`).
            ignore_metadata: leave out ``transformers_version`` and ``_from_model_config``.
            keys_to_pop: other names to leave out.

        Returns:
            The text, ending with a newline.
        """
        values = self.to_diff_dict() if use_diff else self.to_dict()
        for name in (*(keys_to_pop or ()), *(_METADATA if ignore_metadata else ())):
            values.pop(name, None)
        if isinstance(values.get("sequence_bias"), dict):  # JSON keys cannot be tuples
            values["sequence_bias"] = [[list(k), v] for k, v in values["sequence_bias"].items()]
        return json.dumps(values, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        """Write :meth:`to_json_string` to a file."""
        Path(json_file_path).write_text(self.to_json_string(use_diff=use_diff), encoding="utf-8")

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name: str | os.PathLike,
        config_file_name: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> GenerationConfig | tuple[GenerationConfig, dict[str, Any]]:
        """Read ``generation_config.json`` from a model folder (or a repo in the local cache).

        Args:
            pretrained_model_name: the folder that holds the file, or a repo id (resolved as
                :func:`warmstart.hub.resolve` does; ``cache_dir``, ``revision`` and
                ``local_files_only`` are passed on, ``subfolder`` is looked in).
            config_file_name: the file name (default ``generation_config.json``).
            kwargs: settings that override the file's, as in transformers; with
                ``return_unused_kwargs=True`` returns ``(config, {})``.

        Returns:
            The config, validated.

        Raises:
            FileNotFoundError: there is no such file.
            ValueError: the file is not valid JSON, or holds invalid settings.
        """
        from .. import hub  # the hub module is only needed here

        folder = hub.resolve_with(pretrained_model_name, kwargs) / kwargs.pop("subfolder", "")
        path = folder / (config_file_name or GENERATION_CONFIG_NAME)
        if not path.is_file():
            raise FileNotFoundError(
                f"No {path.name} in {path.parent}; pass the folder that holds it, or "
                "build the config with GenerationConfig.from_model_config(config)."
            )
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); fix or re-save it.") from err
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, not {type(values).__name__}.")
        loaded = cls.from_dict(values, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded
        config.validate()
        return loaded

    def save_pretrained(
        self, save_directory: str | os.PathLike, config_file_name: str | os.PathLike | None = None
    ) -> Path:
        """Write ``generation_config.json`` into a folder atomically (temp file, then rename).

        Every setting is written explicitly (transformers writes only those it has set), so
        transformers' ``GenerationConfig.from_pretrained`` reads back the same values.

        Args:
            save_directory: the target folder; created if missing.
            config_file_name: the file name (default ``generation_config.json``).

        Returns:
            The path of the written file.
        """
        self.validate()
        folder = Path(save_directory).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        name = str(config_file_name or GENERATION_CONFIG_NAME)
        from .. import hub

        hub.write_text_atomic(folder / name, self.to_json_string(use_diff=False))
        return folder / name

    @classmethod
    def from_model_config(cls, model_config: Any) -> GenerationConfig:
        """Derive a generation config from a model config, as transformers does.

        Generation settings found at the top level of the model config are taken first
        (``decoder_start_token_id``, ``pad_token_id``, ``eos_token_id``, ``bos_token_id``, and
        legacy settings such as ``num_beams`` in old ``config.json`` files). Settings still unset
        are then taken from the decoder's sub-config (``decoder``, else ``generator`` or
        ``text_config``). ``None`` values are skipped.

        Args:
            model_config: a dict (a parsed ``config.json``) or a config object with ``to_dict()``
                or plain attributes.

        Returns:
            The config (not validated).
        """
        top = _as_dict(model_config)
        names = cls.field_names()
        values = {k: top[k] for k in names if top.get(k) is not None}
        sub = next((top[k] for k in _SUB_CONFIG_NAMES if top.get(k)), None)
        if sub is not None:
            sub = _as_dict(sub)
            for k in names:
                if k not in values and sub.get(k) is not None:
                    values[k] = sub[k]
        return cls.from_dict(values)

    # ----------------------------------------------------------------------------- changes

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the given settings in place, as transformers' ``update``; does not validate.

        Args:
            kwargs: settings by name: fields, names already in ``extra``, and the transformers
                settings this class has no field for (:data:`UNIMPLEMENTED`, :data:`NO_EFFECT`).

        Returns:
            The other kwargs (left untouched).
        """
        unused = {}
        for name, value in kwargs.items():
            if self._knows(name):
                setattr(self, name, value)
            else:
                unused[name] = value
        return unused

    def _knows(self, name: str) -> bool:
        return (
            name in self.__dataclass_fields__
            or name in self.extra
            or name in UNIMPLEMENTED
            or name in NO_EFFECT
        )

    def max_total_length(self, prompt_length: int) -> int:
        """The length limit in tokens, prompt included, for a prompt of ``prompt_length`` tokens.

        ``max_new_tokens`` wins; else ``max_length``; else 20 new tokens, as in transformers.
        """
        if self.max_new_tokens is not None:
            return prompt_length + self.max_new_tokens
        if self.max_length is None:
            return prompt_length + DEFAULT_MAX_NEW_TOKENS
        return self.max_length

    def eos_ids(self) -> list[int] | None:
        """``eos_token_id`` as a list (``None`` when unset)."""
        return _id_list(self.eos_token_id)

    def validate(self) -> None:
        """Check every setting on its own and against the others.

        Raises:
            ValueError: a setting is invalid; the message names it and says what to change.
        """
        _check_lengths(self)
        _check_search(self)
        _check_sampling(self)
        _check_penalties(self)
        _check_tokens(self)

    def check_implemented(self) -> None:
        """Refuse transformers settings this package does not implement (see :data:`UNIMPLEMENTED`)
        at any value but the one that changes nothing. :func:`warmstart.generation.generate` calls it.

        Raises:
            ValueError: such a setting is set; the message names each one.
        """
        found = [
            f"{name}={getattr(self, name)!r}"
            for name, neutral in UNIMPLEMENTED.items()
            if not any(_same(getattr(self, name), value) for value in neutral)
        ]
        if found:
            raise ValueError(
                f"warmstart does not implement the generation option(s) {', '.join(found)}; "
                "unset them (None) to generate."
            )


# --------------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not _is_int(value) or value < minimum:
        hint = " or None" if optional else ""
        raise ValueError(f"`{name}` must be an integer >= {minimum}{hint}, but is {value!r}.")


def _need_bool(name: str, value: Any, optional: bool = False) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        hint = ", False or None" if optional else " or False"
        raise ValueError(f"`{name}` must be True{hint}, but is {value!r}.")


def _same(value: Any, neutral: Any) -> bool:
    """Whether a setting equals a neutral value (None only equals None)."""
    if neutral is None or value is None:
        return value is neutral
    return isinstance(value, (bool, int, float, str)) and value == neutral


def _check_lengths(c: GenerationConfig) -> None:
    _need_int("max_length", c.max_length, 1, optional=True)
    _need_int("min_length", c.min_length, 0)
    _need_int("min_new_tokens", c.min_new_tokens, 0, optional=True)
    if c.max_new_tokens is not None and (not _is_int(c.max_new_tokens) or c.max_new_tokens < 1):
        raise ValueError(
            f"`max_new_tokens` must be a positive integer, but is {c.max_new_tokens!r}; "
            "set it to 1 or more, or to None to use `max_length`."
        )
    if c.max_time is not None and (not _is_number(c.max_time) or c.max_time < 0):
        raise ValueError(
            f"`max_time` must be a number of seconds >= 0 or None, not {c.max_time!r}."
        )


def _check_search(c: GenerationConfig) -> None:
    _need_bool("do_sample", c.do_sample)
    for name in ("use_cache", "output_scores", "return_dict_in_generate", "remove_invalid_values"):
        _need_bool(name, getattr(c, name))
    for name in ("output_logits", "renormalize_logits"):
        _need_bool(name, getattr(c, name), optional=True)
    _need_int("num_beams", c.num_beams, 1)
    _need_int("prompt_lookup_num_tokens", c.prompt_lookup_num_tokens, 1, optional=True)
    _need_int("max_matching_ngram_size", c.max_matching_ngram_size, 1, optional=True)
    _need_int("num_return_sequences", c.num_return_sequences, 1)
    if c.num_beams == 1 and not c.do_sample and c.num_return_sequences > 1:
        raise ValueError(
            f"Greedy search returns one sequence per input, but `num_return_sequences` is "
            f"{c.num_return_sequences}; set `num_beams` >= {c.num_return_sequences}, or "
            "`do_sample=True`, or `num_return_sequences=1`."
        )
    if c.num_beams > 1 and c.num_return_sequences > c.num_beams:
        raise ValueError(
            f"`num_return_sequences` ({c.num_return_sequences}) cannot exceed `num_beams` "
            f"({c.num_beams}); raise `num_beams` or lower `num_return_sequences`."
        )
    if not (c.early_stopping is True or c.early_stopping is False or c.early_stopping == "never"):
        raise ValueError(
            f"`early_stopping` must be True, False or 'never', but is {c.early_stopping!r}."
        )
    if not _is_number(c.length_penalty):
        raise ValueError(f"`length_penalty` must be a number, but is {c.length_penalty!r}.")


def _check_sampling(c: GenerationConfig) -> None:
    if not _is_number(c.temperature):
        raise ValueError(f"`temperature` must be a number, but is {c.temperature!r}.")
    if c.do_sample and c.temperature <= 0:
        raise ValueError(
            f"`temperature` must be > 0 when sampling, but is {c.temperature}; use a positive "
            "temperature, or `do_sample=False` for greedy decoding."
        )
    _need_int("top_k", c.top_k, 0)
    if not _is_number(c.top_p) or not 0 < c.top_p <= 1:
        raise ValueError(
            f"`top_p` must be in (0, 1], but is {c.top_p!r}; use 1.0 to turn nucleus filtering off."
        )
    if c.min_p is not None and (not _is_number(c.min_p) or not 0 <= c.min_p <= 1):
        raise ValueError(f"`min_p` must be in [0, 1] or None, but is {c.min_p!r}.")
    if c.top_h is not None and (not _is_number(c.top_h) or not 0 < c.top_h <= 1):
        raise ValueError(f"`top_h` must be in (0, 1] or None, but is {c.top_h!r}.")
    if not _is_number(c.typical_p) or not 0 < c.typical_p <= 1:
        raise ValueError(
            f"`typical_p` must be in (0, 1], but is {c.typical_p!r}; use 1.0 to turn it off."
        )
    for name in ("epsilon_cutoff", "eta_cutoff"):
        value = getattr(c, name)
        if not _is_number(value) or not 0 <= value < 1:
            raise ValueError(
                f"`{name}` must be in [0, 1), but is {value!r}; use 0.0 to turn it off."
            )


def _check_penalties(c: GenerationConfig) -> None:
    if not _is_number(c.repetition_penalty) or c.repetition_penalty <= 0:
        raise ValueError(
            f"`repetition_penalty` must be > 0, but is {c.repetition_penalty!r}; "
            "use 1.0 for no penalty."
        )
    if not _is_number(c.encoder_repetition_penalty) or c.encoder_repetition_penalty <= 0:
        raise ValueError(
            f"`encoder_repetition_penalty` must be > 0, but is {c.encoder_repetition_penalty!r}; "
            "use 1.0 for no penalty."
        )
    _need_int("no_repeat_ngram_size", c.no_repeat_ngram_size, 0)
    _need_int("encoder_no_repeat_ngram_size", c.encoder_no_repeat_ngram_size, 0)
    if c.bad_words_ids is not None:
        if not isinstance(c.bad_words_ids, list) or not c.bad_words_ids:
            raise ValueError(
                f"`bad_words_ids` must be a non-empty list of token-id lists or None, "
                f"but is {c.bad_words_ids!r}."
            )
        for seq in c.bad_words_ids:
            if not isinstance(seq, list) or not seq or not all(_is_int(t) and t >= 0 for t in seq):
                raise ValueError(
                    f"Each entry of `bad_words_ids` must be a non-empty list of token ids >= 0, "
                    f"but one is {seq!r}."
                )
    _check_sequence_bias(c.sequence_bias)
    decay = c.exponential_decay_length_penalty
    if decay is not None and not (
        isinstance(decay, (list, tuple))
        and len(decay) == 2
        and _is_int(decay[0])
        and decay[0] >= 0
        and _is_number(decay[1])
    ):
        raise ValueError(
            "`exponential_decay_length_penalty` must be (start_index, decay_factor), an integer "
            f">= 0 and a number, or None, but is {decay!r}."
        )


def _check_sequence_bias(bias: Any) -> None:
    if bias is None:
        return
    pairs = list(bias.items()) if isinstance(bias, dict) else bias
    ok = isinstance(pairs, list) and bool(pairs)
    for pair in pairs if ok else ():
        ok = ok and isinstance(pair, (list, tuple)) and len(pair) == 2 and _is_number(pair[1])
        seq = pair[0] if ok else None
        ok = ok and isinstance(seq, (list, tuple)) and bool(seq)
        ok = ok and all(_is_int(t) and t >= 0 for t in seq)
    if not ok:
        raise ValueError(
            "`sequence_bias` must be a non-empty list of [token ids, bias] pairs, e.g. "
            f"[[[12], -2.0], [[5, 6], 1.5]] (or a dict of tuples to biases), but is {bias!r}."
        )


def _check_tokens(c: GenerationConfig) -> None:
    for name in ("bos_token_id", "pad_token_id", "decoder_start_token_id", "forced_bos_token_id"):
        _need_int(name, getattr(c, name), 0, optional=True)
    for name in ("eos_token_id", "forced_eos_token_id"):
        value = getattr(c, name)
        ids = _id_list(value)
        if value is not None and (not ids or not all(_is_int(t) and t >= 0 for t in ids)):
            raise ValueError(
                f"`{name}` must be a token id >= 0, a non-empty list of them, or None, "
                f"but is {value!r}."
            )
    for name in ("suppress_tokens", "begin_suppress_tokens"):
        value = getattr(c, name)
        if value is not None and (
            not isinstance(value, list) or not all(_is_int(t) and t >= 0 for t in value)
        ):
            raise ValueError(
                f"`{name}` must be a list of token ids >= 0 or None, but is {value!r}."
            )
    if c.suppress_tokens is not None:
        for name in ("forced_bos_token_id", "forced_eos_token_id"):
            forced = _id_list(getattr(c, name))
            if forced and set(forced) <= set(c.suppress_tokens):
                raise ValueError(
                    f"Every token of `{name}` ({forced}) is also in `suppress_tokens`, which "
                    "leaves no token to choose at the forced step; remove it from one of them."
                )


def _id_list(value: Any) -> list[int] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, dict):
        return config
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(vars(config))
