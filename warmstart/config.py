"""Model configurations: one small dataclass per architecture, read and written as config.json.

Field names and defaults are transformers' own, so a config.json written by either library loads in the
other. Fields a class does not know are kept in ``extra`` (and readable as attributes), so a round trip
loses nothing.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from . import hub

CONFIG_NAME = "config.json"


@dataclass(kw_only=True)
class Config:
    """Fields every architecture shares (transformers' ``PretrainedConfig`` subset that matters here)."""

    model_type: ClassVar[str] = ""

    is_decoder: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _field_names(type(self)) or name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # unknown names are kept and saved, like transformers does
            self.extra[name] = value

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a config.json dict; unknown fields go to ``extra``."""
        data = dict(data)
        declared = data.pop("model_type", cls.model_type)
        if cls.model_type and declared != cls.model_type:
            raise ValueError(f"{cls.__name__} cannot read a config of model_type {declared!r}.")
        names = _field_names(cls) - {"extra"}
        known = {k: data.pop(k) for k in list(data) if k in names}
        return cls(**known, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The config.json dict, with unknown fields kept."""
        out = {"model_type": self.model_type}
        for f in fields(self):
            if f.name != "extra":
                out[f.name] = copy.deepcopy(getattr(self, f.name))
        out.update(copy.deepcopy(self.extra))
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **overrides: Any) -> Config:
        """Read config.json from a folder or a cached repo id; ``overrides`` set fields afterwards."""
        folder = hub.resolve(name_or_path)
        path = folder / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"No {CONFIG_NAME} in {folder}.")
        config = (
            config_from_dict(hub.load_json(path))
            if cls is Config
            else cls.from_dict(hub.load_json(path))
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        return config

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write config.json into ``save_directory`` atomically."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / CONFIG_NAME, self.to_json_string())

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return _field_names(cls) - {"extra"}

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
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                f"{self.num_attention_heads}."
            )


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
        if isinstance(self.encoder, dict):
            self.encoder = config_from_dict(self.encoder)
        if isinstance(self.decoder, dict):
            self.decoder = config_from_dict(self.decoder)

    @classmethod
    def from_encoder_decoder_configs(
        cls, encoder_config: Config, decoder_config: Config, **kwargs: Any
    ) -> EncoderDecoderConfig:
        """Compose two configs; the decoder's copy gets ``is_decoder`` and ``add_cross_attention``.

        Args:
            encoder_config: config of the encoder (copied).
            decoder_config: config of the decoder (copied, then made a decoder with cross-attention).
            **kwargs: fields of the composite config, e.g. ``decoder_start_token_id``.

        Returns:
            The composite config.
        """
        encoder = encoder_config.copy()
        decoder = decoder_config.copy()
        decoder.is_decoder = True
        decoder.add_cross_attention = True
        config = cls(encoder=encoder, decoder=decoder)
        for key, value in kwargs.items():
            setattr(config, key, value)
        return config

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
        out.setdefault("architectures", ["EncoderDecoderModel"])
        return out


CONFIG_CLASSES: dict[str, type[Config]] = {
    "bert": BertConfig,
    "encoder-decoder": EncoderDecoderConfig,
}


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build the config class named by ``data['model_type']``."""
    model_type = data.get("model_type")
    if model_type not in CONFIG_CLASSES:
        raise ValueError(
            f"Unknown model_type {model_type!r}. Supported model types: "
            f"{', '.join(sorted(CONFIG_CLASSES))}."
        )
    return CONFIG_CLASSES[model_type].from_dict(data)


class AutoConfig:
    """Dispatch on ``model_type``, as transformers' AutoConfig does."""

    @staticmethod
    def for_model(model_type: str, **kwargs: Any) -> Config:
        return config_from_dict({"model_type": model_type, **kwargs})

    @staticmethod
    def from_pretrained(name_or_path: str | os.PathLike, **overrides: Any) -> Config:
        return Config.from_pretrained(name_or_path, **overrides)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never half of it."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _field_names(cls: type) -> frozenset[str]:
    names = cls.__dict__.get("_names")
    if names is None:
        names = frozenset(f.name for f in fields(cls))
        type.__setattr__(cls, "_names", names)
    return names
