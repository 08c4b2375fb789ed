"""Generation settings, read from and written to ``generation_config.json``.

:class:`GenerationConfig` carries transformers' field names and defaults for the controls this
package implements. Fields it does not know (``use_cache``, ``transformers_version``, ...) are kept
in :attr:`GenerationConfig.extra` and written back unchanged, so a file survives a round trip.

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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENERATION_CONFIG_NAME = "generation_config.json"
DEFAULT_MAX_NEW_TOKENS = 20

# Where transformers looks for a decoder's own settings inside a composite model config.
_SUB_CONFIG_NAMES = ("decoder", "generator", "text_config")


@dataclass
class GenerationConfig:
    """How to generate: length limits, search strategy, logits controls and special tokens.

    Defaults are transformers' global defaults, except ``max_length``: None (unset), which means
    ``DEFAULT_MAX_NEW_TOKENS`` (20) tokens after the prompt, as transformers treats an unset
    ``max_length``. ``eos_token_id`` and ``forced_eos_token_id`` may be an int or a list of ints;
    ``early_stopping`` is True, False or ``"never"``.
    """

    max_length: int | None = None
    max_new_tokens: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    min_p: float | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    encoder_no_repeat_ngram_size: int = 0
    bad_words_ids: list[list[int]] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    suppress_tokens: list[int] | None = None
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    output_scores: bool = False
    return_dict_in_generate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------------------- dict and JSON

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the generation settings (every field except ``extra``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationConfig:
        """Build a config from a dict such as a parsed ``generation_config.json``.

        Args:
            values: settings by name; names this class does not know go to ``extra``.

        Returns:
            The config (not validated; call :meth:`validate`).
        """
        known = set(cls.field_names())
        config = cls(**{k: copy.deepcopy(v) for k, v in values.items() if k in known})
        config.extra = {k: copy.deepcopy(v) for k, v in values.items() if k not in known}
        return config

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name, with the ``extra`` entries merged in at the top level."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in self.field_names()}
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> GenerationConfig:
        """Read ``generation_config.json`` from a model folder.

        Args:
            folder: the folder that holds ``generation_config.json``.

        Returns:
            The config, validated.

        Raises:
            FileNotFoundError: the folder has no ``generation_config.json``.
            ValueError: the file is not valid JSON, or holds invalid settings.
        """
        path = Path(folder).expanduser() / GENERATION_CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"No {GENERATION_CONFIG_NAME} in {path.parent}; pass the folder that holds it, or "
                "build the config with GenerationConfig.from_model_config(config)."
            )
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); fix or re-save it.") from err
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, not {type(values).__name__}.")
        config = cls.from_dict(values)
        config.validate()
        return config

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write ``generation_config.json`` into ``folder`` atomically (temp file, then rename).

        Every setting is written explicitly, so transformers' ``GenerationConfig.from_pretrained``
        reads back the same values.

        Args:
            folder: the target folder; created if missing.

        Returns:
            The path of the written file.
        """
        self.validate()
        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{GENERATION_CONFIG_NAME}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / GENERATION_CONFIG_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return folder / GENERATION_CONFIG_NAME

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
        """Set the given settings in place; does not validate.

        Args:
            kwargs: settings by name.

        Returns:
            The kwargs whose names are not settings of this class (left untouched).
        """
        known = set(self.field_names())
        for name, value in kwargs.items():
            if name in known:
                setattr(self, name, value)
        return {k: v for k, v in kwargs.items() if k not in known}

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


def _check_lengths(c: GenerationConfig) -> None:
    _need_int("max_length", c.max_length, 1, optional=True)
    _need_int("min_length", c.min_length, 0)
    _need_int("min_new_tokens", c.min_new_tokens, 0, optional=True)
    if c.max_new_tokens is not None and (not _is_int(c.max_new_tokens) or c.max_new_tokens < 1):
        raise ValueError(
            f"`max_new_tokens` must be a positive integer, but is {c.max_new_tokens!r}; "
            "set it to 1 or more, or to None to use `max_length`."
        )


def _check_search(c: GenerationConfig) -> None:
    if not isinstance(c.do_sample, bool):
        raise ValueError(f"`do_sample` must be True or False, but is {c.do_sample!r}.")
    _need_int("num_beams", c.num_beams, 1)
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


def _check_penalties(c: GenerationConfig) -> None:
    if not _is_number(c.repetition_penalty) or c.repetition_penalty <= 0:
        raise ValueError(
            f"`repetition_penalty` must be > 0, but is {c.repetition_penalty!r}; "
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
    if c.suppress_tokens is not None:
        if not isinstance(c.suppress_tokens, list) or not all(
            _is_int(t) and t >= 0 for t in c.suppress_tokens
        ):
            raise ValueError(
                f"`suppress_tokens` must be a list of token ids >= 0 or None, "
                f"but is {c.suppress_tokens!r}."
            )
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
