"""Model configurations: one small dataclass per architecture, read and written as config.json.

Field names and defaults are transformers' own, so a config.json written by either library loads in the
other. Fields a class does not know are kept in ``extra`` (and readable as attributes), so a round trip
loses nothing. Constructors take keywords as transformers' ``PretrainedConfig(**kwargs)`` does: one
metaclass (``_ConfigMeta``) maps ``attribute_map`` aliases to the field they name and keeps unknown
keywords in ``extra``, for every config class.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from . import hub
from .fields import ExtraFields

CONFIG_NAME = "config.json"

# transformers' common PretrainedConfig fields and their defaults (its ``PreTrainedConfig().to_dict()``);
# to_diff_dict leaves them out at these values, as transformers does. Ours has two of them as fields
# (architectures, is_encoder_decoder); the others are only ever in ``extra``.
BASE_DEFAULTS: dict[str, Any] = {
    "architectures": None,
    "chunk_size_feed_forward": 0,
    "dtype": None,
    "id2label": {0: "LABEL_0", 1: "LABEL_1"},
    "is_encoder_decoder": False,
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "output_attentions": False,
    "output_hidden_states": False,
    "problem_type": None,
    "return_dict": True,
}


class _ConfigMeta(type):
    """Constructor keywords as transformers takes them, for every config class.

    ``attribute_map`` aliases (``GPT2Config(hidden_size=...)``) set the field they name and win over
    that field's own keyword, as in transformers; keywords that are not fields are kept in ``extra``
    (``BertConfig(foo=1).foo``); a ``model_type`` keyword must name the class's own type.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        attn_implementation = kwargs.pop("attn_implementation", None)  # as transformers' keyword
        declared = kwargs.pop("model_type", cls.model_type)
        if cls.model_type and declared != cls.model_type:
            raise ValueError(f"{cls.__name__} cannot read a config of model_type {declared!r}.")
        names = cls.field_names()
        known: dict[str, Any] = {}
        extra = dict(kwargs.pop("extra", None) or {})
        for key, value in sorted(kwargs.items(), key=lambda kv: kv[0] in cls.attribute_map):
            name = cls.attribute_map.get(key, key)
            if name in names:
                known[name] = value
            else:
                extra[key] = value
        config = super().__call__(*args, **known, extra=extra)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        return config


@dataclass(kw_only=True)
class Config(ExtraFields, metaclass=_ConfigMeta):
    """Fields every architecture shares (transformers' ``PretrainedConfig`` subset that matters here)."""

    model_type: ClassVar[str] = ""
    # transformers' attribute_map: common names (hidden_size, ...) for this architecture's fields
    attribute_map: ClassVar[dict[str, str]] = {}
    # "eager" or "sdpa" (None: the default, SDPA); set per instance, never written to config.json
    _attn_implementation: ClassVar[str | None] = None

    is_decoder: bool = False
    add_cross_attention: bool = False
    is_encoder_decoder: bool = False
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    architectures: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> Any:
        mapped = type(self).attribute_map.get(name)
        if mapped is not None:
            return getattr(self, mapped)
        return self._extra_value(name)

    def __setattr__(self, name: str, value: Any) -> None:
        name = type(self).attribute_map.get(name, name)
        if name == "_attn_implementation":
            check_attn_implementation(value)
        super().__setattr__(name, value)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a config.json dict; unknown fields go to ``extra``."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The config.json dict, with unknown fields kept."""
        return dict(sorted({"model_type": self.model_type, **self.fields_dict()}.items()))

    def to_diff_dict(self) -> dict[str, Any]:
        """``to_dict`` less transformers' common fields at their defaults, as transformers writes it.

        Every field of this architecture is kept; a :data:`BASE_DEFAULTS` field is left out when it
        has its default value and this class's default (in a sub-config: this class's default).
        """
        return self._diff_dict(nested=False)

    def _diff_dict(self, nested: bool) -> dict[str, Any]:
        default = type(self)().to_dict()
        out = {}
        for key, value in self.to_dict().items():
            sub = getattr(self, key, None)
            if isinstance(sub, Config):
                value = sub._diff_dict(nested=True)
            elif key == "_name_or_path" or (
                key in BASE_DEFAULTS
                and (nested or _same(value, BASE_DEFAULTS[key]))
                and _same(value, default.get(key, value))
            ):
                continue
            out[key] = value
        return out

    def to_json_string(self, use_diff: bool = True) -> str:
        """The config as JSON text, keys sorted; ``use_diff`` as :meth:`to_diff_dict`."""
        values = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(values, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        """Write :meth:`to_json_string` to ``json_file_path``."""
        hub.write_text_atomic(Path(json_file_path), self.to_json_string(use_diff=use_diff))

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike) -> Config:
        """Read a config.json file (``Config.from_json_file`` dispatches on its model_type)."""
        data = hub.load_json(Path(json_file))
        return config_from_dict(data) if cls is Config else cls.from_dict(data)

    def update(self, config_dict: dict[str, Any]) -> None:
        """Set each entry of ``config_dict`` as an attribute, as transformers' ``update``."""
        for key, value in config_dict.items():
            setattr(self, key, value)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        return_unused_kwargs: bool = False,
        **overrides: Any,
    ) -> Config | tuple[Config, dict[str, Any]]:
        """Read config.json from a folder or a cached repo id; ``overrides`` set fields afterwards.

        Args:
            name_or_path: a folder, or a repo id in the local Hugging Face cache.
            return_unused_kwargs: return ``(config, unused)`` as transformers does, where
                ``unused`` holds the overrides that are not attributes of the config (those are
                then not set).
            **overrides: attributes to set on the loaded config; transformers' loading options
                (``revision``, ``cache_dir``, ``local_files_only``, ``token``, ...) say where to look.

        Returns:
            The config, or ``(config, unused)``.
        """
        folder = hub.resolve_with(name_or_path, overrides)
        path = folder / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"No {CONFIG_NAME} in {folder}.")
        config = cls.from_json_file(path)
        unused = {}
        for key, value in overrides.items():
            if return_unused_kwargs and not hasattr(config, key):
                unused[key] = value
            else:
                setattr(config, key, value)
        return (config, unused) if return_unused_kwargs else config

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write config.json (:meth:`to_json_string`) into ``save_directory`` atomically."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        hub.write_text_atomic(folder / CONFIG_NAME, self.to_json_string())

    def copy(self) -> Config:
        return copy.deepcopy(self)


@dataclass
class BertConfig(Config):
    """BERT (Devlin et al., 2019); also the layout of MiniLM and other BERT-shaped checkpoints."""

    model_type: ClassVar[str] = "bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    use_cache: bool = True
    classifier_dropout: float | None = None

    def __post_init__(self) -> None:
        _check_heads(self.hidden_size, self.num_attention_heads)


@dataclass
class RobertaConfig(BertConfig):
    """RoBERTa (Liu et al., 2019): BERT's layout, positions counted from ``pad_token_id + 1``."""

    model_type: ClassVar[str] = "roberta"

    vocab_size: int = 50265
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2


@dataclass
class XLMRobertaConfig(RobertaConfig):
    """XLM-RoBERTa (Conneau et al., 2020): RoBERTa's layout with a multilingual vocabulary."""

    model_type: ClassVar[str] = "xlm-roberta"

    vocab_size: int = 30522


@dataclass
class ElectraConfig(BertConfig):
    """ELECTRA (Clark et al., 2020): BERT layers over narrower embeddings (``embedding_size``)."""

    model_type: ClassVar[str] = "electra"

    embedding_size: int = 128
    hidden_size: int = 256
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    summary_type: str = "first"
    summary_use_proj: bool = True
    summary_activation: str = "gelu"
    summary_last_dropout: float = 0.1


@dataclass
class BertGenerationConfig(Config):
    """BertGeneration (Rothe et al., 2020): BERT's layers without token types or pooler, the
    architecture of the paper's released checkpoints (``google/bert2bert_L-24_*``,
    ``google/roberta2roberta_L-24_*``) and of ``google/bert_for_seq_generation_L-24_bbc_encoder``."""

    model_type: ClassVar[str] = "bert-generation"

    vocab_size: int = 50358
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | list[int] | None = 1
    use_cache: bool = True

    def __post_init__(self) -> None:
        _check_heads(self.hidden_size, self.num_attention_heads)


@dataclass
class RemBertConfig(Config):
    """RemBERT (Chung et al., 2021): BERT layers over narrow input embeddings
    (``input_embedding_size``, projected to ``hidden_size``) and an LM head through a wider
    ``output_embedding_size``, not tied to the input embeddings."""

    model_type: ClassVar[str] = "rembert"

    vocab_size: int = 250300
    hidden_size: int = 1152
    num_hidden_layers: int = 32
    num_attention_heads: int = 18
    input_embedding_size: int = 256
    output_embedding_size: int = 1664
    intermediate_size: int = 4608
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 312
    eos_token_id: int | list[int] | None = 313
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        _check_heads(self.hidden_size, self.num_attention_heads)


@dataclass
class GPT2Config(Config):
    """GPT-2 (Radford et al., 2019): pre-LN decoder; cross-attention is added for seq2seq."""

    model_type: ClassVar[str] = "gpt2"
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    summary_type: str = "cls_index"
    summary_use_proj: bool = True
    summary_activation: str | None = None
    summary_proj_to_labels: bool = True
    summary_first_dropout: float = 0.1
    scale_attn_weights: bool = True
    use_cache: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False

    def __post_init__(self) -> None:
        _check_heads(self.n_embd, self.n_head)


@dataclass
class BartConfig(Config):
    """BART (Lewis et al., 2020): post-LN encoder and decoder, learned positions offset by 2."""

    model_type: ClassVar[str] = "bart"
    attribute_map: ClassVar[dict[str, str]] = {
        "num_attention_heads": "encoder_attention_heads",
        "hidden_size": "d_model",
        "num_hidden_layers": "encoder_layers",
    }

    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    activation_function: str = "gelu"
    d_model: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    classifier_dropout: float = 0.0
    scale_embedding: bool = False
    use_cache: bool = True
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    is_encoder_decoder: bool = True
    decoder_start_token_id: int | None = 2
    forced_eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        _check_heads(self.d_model, self.encoder_attention_heads)
        _check_heads(self.d_model, self.decoder_attention_heads)


@dataclass
class EncoderDecoderConfig(Config):
    """A composite of an encoder config and a decoder config (model_type ``encoder-decoder``)."""

    model_type: ClassVar[str] = "encoder-decoder"

    encoder: Config = field(default_factory=BertConfig)
    decoder: Config = field(
        default_factory=lambda: BertConfig(is_decoder=True, add_cross_attention=True)
    )
    is_encoder_decoder: bool = True
    decoder_start_token_id: int | None = None
    tie_encoder_decoder: bool = False
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        self.encoder = as_config(self.encoder, "the encoder config")
        self.decoder = as_config(self.decoder, "the decoder config")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "_attn_implementation":  # as transformers: the sub-configs follow
            self.encoder._attn_implementation = self.decoder._attn_implementation = value

    @classmethod
    def from_encoder_decoder_configs(
        cls, encoder_config: Config, decoder_config: Config, **kwargs: Any
    ) -> EncoderDecoderConfig:
        """Compose two configs, as transformers does.

        Like transformers, this sets ``is_decoder`` and ``add_cross_attention`` on ``decoder_config``
        itself (so ``BertLMHeadModel(decoder_config)`` then builds a decoder with cross-attention),
        and the composite holds copies of both configs. transformers' own config objects are
        accepted and converted (:func:`as_config`).

        Args:
            encoder_config: config of the encoder (copied).
            decoder_config: config of the decoder (made a decoder with cross-attention, then copied).
            **kwargs: fields of the composite config, e.g. ``decoder_start_token_id``.

        Returns:
            The composite config.
        """
        encoder = as_config(encoder_config, "encoder_config")
        decoder = as_config(decoder_config, "decoder_config")
        for config in (decoder_config, decoder):  # the given object, and its conversion
            config.is_decoder = config.add_cross_attention = True
        return cls(encoder=copy.deepcopy(encoder), decoder=copy.deepcopy(decoder), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderDecoderConfig:
        data = dict(data)
        for side in ("encoder", "decoder"):
            if not isinstance(data.get(side), dict) or "model_type" not in data[side]:
                raise ValueError(
                    f"An encoder-decoder config.json needs an {side!r} dict with a model_type."
                )
        return super().from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["encoder"] = self.encoder.to_dict()
        out["decoder"] = self.decoder.to_dict()
        if out["architectures"] is None:
            out["architectures"] = ["EncoderDecoderModel"]
        return out


def init_std(config: Config) -> float:
    """The standard deviation of a model's new weights: BART's ``init_std``, the other families'
    ``initializer_range`` (a field of the other name kept from a config.json is not read)."""
    return config.init_std if isinstance(config, BartConfig) else config.initializer_range


def config_class(model_type: Any) -> type[Config] | None:
    """The config class of ``model_type`` (the family table's, or the composite's); None if none."""
    from .families import FAMILIES  # the table names each family's config class

    if model_type == EncoderDecoderConfig.model_type:
        return EncoderDecoderConfig
    row = FAMILIES.get(model_type)
    return None if row is None else row.config


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build the config class named by ``data['model_type']``."""
    from .families import supported_families

    model_type = data.get("model_type")
    cls = config_class(model_type)
    if cls is None:
        raise ValueError(f"Unknown model_type {model_type!r}. {supported_families()}")
    return cls.from_dict(data)


def read_config(folder: Path) -> Config:
    """The config of a saved model folder (its ``config.json``), as its family's class; every
    framework's loading reads it here.

    Raises:
        FileNotFoundError: the folder has no ``config.json``.
    """
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No {CONFIG_NAME} in {folder}: is this a saved model folder?")
    return config_from_dict(hub.load_json(path))


def as_config(config: Any, what: str = "config") -> Config:
    """``config`` as this library's config class: itself when it is one, or a conversion of another
    library's config object (transformers' ``BertConfig``, ...) through its ``to_dict()`` and
    ``model_type``; fields this library does not know are kept in ``extra``. A dict is read as a
    config.json. transformers is never imported.

    Raises:
        TypeError: ``config`` is none of these, or names an unsupported model_type.
    """
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    model_type = getattr(config, "model_type", None)
    if callable(getattr(config, "to_dict", None)) and config_class(model_type) is not None:
        return config_from_dict({**config.to_dict(), "model_type": model_type})
    problem = "which has no to_dict() and model_type"
    if model_type is not None and callable(getattr(config, "to_dict", None)):
        from .families import supported_families

        problem = f"of model_type {model_type!r}, not supported. {supported_families()}"
    raise TypeError(
        f"{what} must be a warmstart config (warmstart.BertConfig, ...) or a transformers config "
        f"of a supported model_type, not a {type(config).__name__} {problem}"
    )


class AutoConfig:
    """Dispatch on ``model_type``, as transformers' AutoConfig does."""

    @staticmethod
    def for_model(model_type: str, **kwargs: Any) -> Config:
        return config_from_dict({"model_type": model_type, **kwargs})

    @staticmethod
    def from_pretrained(
        name_or_path: str | os.PathLike, **kwargs: Any
    ) -> Config | tuple[Config, dict[str, Any]]:
        """:meth:`Config.from_pretrained` of the class named by the file's model_type."""
        return Config.from_pretrained(name_or_path, **kwargs)


ATTN_IMPLEMENTATIONS = ("eager", "sdpa")


def check_attn_implementation(value: Any) -> None:
    """Refuse an ``attn_implementation`` other than None, "eager" or "sdpa", naming those."""
    if value is not None and value not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation={value!r} is not available here; use 'eager' (attention "
            "weights computed explicitly) or 'sdpa' (the default, fused kernels)."
        )


def _check_heads(width: int, heads: int) -> None:
    if width % heads:
        raise ValueError(f"hidden_size {width} is not a multiple of num_attention_heads {heads}.")


def _same(a: Any, b: Any) -> bool:
    """Equal once written as JSON (``{0: "x"}`` equals ``{"0": "x"}``)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def set_fields(config: Config, fields: dict[str, Any], caller: str) -> None:
    """Set a loader's leftover keywords on ``config``, as transformers' ``from_pretrained`` does.

    transformers' common fields (``return_dict``, ``output_attentions``, ...) are accepted on
    every config (kept in ``extra``).

    Raises:
        TypeError: a keyword that is no field of ``config`` (a typo would otherwise be saved in
            config.json); the message names ``caller``.
    """
    unknown = sorted(k for k in fields if not hasattr(config, k) and k not in BASE_DEFAULTS)
    if unknown:
        raise TypeError(
            f"{caller} got unexpected keyword arguments: {', '.join(unknown)} (neither a field "
            f"of the {config.model_type} config nor a loading option)."
        )
    for key, value in fields.items():
        setattr(config, key, value)


def composite_config(
    config: EncoderDecoderConfig | None, encoder: Any = None, decoder: Any = None
) -> EncoderDecoderConfig:
    """An encoder-decoder model's config: ``config``, or made from its two given halves' configs
    (every framework's ``EncoderDecoderModel(config=None, encoder=, decoder=)``).

    Raises:
        ValueError: neither a config nor both halves.
        TypeError: a config that is not an :class:`EncoderDecoderConfig`.
    """
    if config is None:
        if encoder is None or decoder is None:
            raise ValueError("Pass a config, or both an encoder and a decoder.")
        config = EncoderDecoderConfig(encoder=encoder.config, decoder=decoder.config)
    if not isinstance(config, EncoderDecoderConfig):
        raise TypeError(f"config must be an EncoderDecoderConfig, not {type(config).__name__}.")
    return config


def side_options(kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Take each side's keywords out of a ``from_encoder_decoder_pretrained`` call's (every
    framework's): ``encoder_*`` / ``decoder_*``, without the prefix, by side. Fields of the
    composite config (``decoder_start_token_id``) and the rest stay in ``kwargs``."""
    sides: dict[str, dict[str, Any]] = {"encoder": {}, "decoder": {}}
    for key in list(kwargs):
        side, _, rest = key.partition("_")
        if side in sides and rest and key not in EncoderDecoderConfig.field_names():
            sides[side][rest] = kwargs.pop(key)
    return sides
