"""The Keras base of every TensorFlow family model: a flat dict of variables named as the PyTorch
side names its parameters (so checkpoints load and save by name), ``from_pretrained`` and
``save_pretrained`` of one encoder or decoder, and the decoder pass shared by all families."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import hub
from ..config import CONFIG_NAME, Config, EncoderDecoderConfig, set_fields
from . import checkpoint
from .layers import SelfAttention, project, with_transposes

logger = logging.getLogger("warmstart")

Spec = tuple[tuple[int, ...], str]  # shape, initialiser: "normal", "zeros" or "ones"


def linear_spec(out: dict[str, Spec], name: str, d_out: int, d_in: int, bias: bool = True) -> None:
    out[name + ".weight"] = ((d_out, d_in), "normal")
    if bias:
        out[name + ".bias"] = ((d_out,), "zeros")


def norm_spec(out: dict[str, Spec], name: str, width: int) -> None:
    out[name + ".weight"] = ((width,), "ones")
    out[name + ".bias"] = ((width,), "zeros")


class TFPretrained(keras.Model):
    """A family's encoder or decoder as a Keras model whose variables are ``self.p[name]``."""

    model_types: tuple[str, ...] = ()
    is_decoder_class = False

    def __init__(self, config: Config, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", None))
        self.__dict__["config"] = config  # a plain attribute, not tracked by Keras
        std = self.init_std()
        params = {}
        for name, (shape, kind) in self.weight_specs().items():
            init = keras.initializers.RandomNormal(0.0, std) if kind == "normal" else kind
            params[name] = self.add_weight(shape=shape, initializer=init, name=name)
        self.__dict__["p"] = params
        self.built = True

    # ----------------------------------------------------------------- to define per family
    def weight_specs(self) -> dict[str, Spec]:
        raise NotImplementedError

    def init_std(self) -> float:
        return self.config.initializer_range

    def tied(self) -> dict[str, str]:
        """Names of parameters that are another's (an alias -> the name that holds it)."""
        return {}

    # ----------------------------------------------------------------- weights by name
    def assign_state(self, state: dict[str, np.ndarray], strict: bool) -> list[str]:
        """Assign arrays by name; return the names the state lacked. Unknown names raise with
        ``strict``, else are dropped with a warning; tied aliases are skipped."""
        aliases = self.tied()
        unknown = sorted(k for k in state if k not in self.p and k not in aliases)
        if unknown and strict:
            raise ValueError(
                f"The checkpoint has {len(unknown)} tensors this model has no place for: "
                f"{', '.join(unknown[:6])}. Is it for another architecture?"
            )
        if unknown:
            logger.warning("Not used from the checkpoint: %s", "; ".join(unknown[:6]))
        missing = []
        for name, var in self.p.items():
            if name not in state:
                missing.append(name)
                continue
            value = np.asarray(state[name], dtype=np.float32)
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(
                    f"Shape mismatch for {name}: checkpoint {value.shape}, model {tuple(var.shape)}."
                    " Does config.json match?"
                )
            var.assign(value)
        return missing

    def state(self) -> dict[str, np.ndarray]:
        """Every parameter as numpy, under the PyTorch side's names (tied ones once)."""
        return {name: var.numpy() for name, var in self.p.items()}

    def get_input_embeddings(self) -> tf.Variable:
        raise NotImplementedError

    # ----------------------------------------------------------------- one half from disk
    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *, config: Config | None = None, **kw
    ) -> TFPretrained:
        """Load one encoder or decoder saved by either framework (``from_pt`` is accepted and
        unneeded: PyTorch's layout is this side's).

        Args:
            pretrained_model_name_or_path: a folder or a cached repo id.
            config: use this config instead of the saved one.
            **kw: config fields to set (``is_decoder=True, add_cross_attention=True``).
        """
        kw.pop("from_pt", None)
        folder = hub.resolve_with(pretrained_model_name_or_path, kw)
        for name in hub.DOWNLOAD_ONLY_OPTIONS:
            kw.pop(name, None)
        config = config or checkpoint.read_config(folder)
        if isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} is a whole encoder-decoder; load it with "
                "TFEncoderDecoderModel.from_pretrained."
            )
        set_fields(config, kw, "from_pretrained()")
        model = cls(config)
        model.newly_initialized = checkpoint.load_half(model, folder)
        return model

    def save_pretrained(self, save_directory: str | os.PathLike, **_: Any) -> None:
        """config.json and model.safetensors in PyTorch's layout, atomically."""
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__.removeprefix("TF")]
        state = checkpoint.to_checkpoint(self.config, self.state(), self.is_decoder_class)
        with hub.atomic_folder(save_directory, replaces=(CONFIG_NAME, *hub.WEIGHT_FILES)) as tmp:
            hub.write_text_atomic(tmp / CONFIG_NAME, checkpoint.to_json(config))
            hub.save_arrays(state, tmp / hub.SAFE_WEIGHTS)


class TFDecoder:
    """The decoder contract (mixin): a family supplies ``embed``, ``layer``, ``cross_kv``,
    ``final`` and ``head``; this runs a pass with or without a static cache."""

    config: Any
    output_name = (
        "lm_head.weight"  # the LM head's weight (V, C), tied to the input embeddings or not
    )

    def layer_count(self) -> int:
        raise NotImplementedError

    def heads(self) -> int:
        raise NotImplementedError

    def width(self) -> int:
        return self.config.hidden_size

    def logits(self, x: tf.Tensor, bias: tf.Tensor | None = None) -> tf.Tensor:
        """The LM head's product: (B, T, C) -> (B, T, V)."""
        name = self.output_name
        w = self.p[name] if name in self.p else self.get_input_embeddings()
        return project(x, w, bias, self.p.get(name + ".T"))

    @contextmanager
    def transposed(self) -> Iterator[None]:
        """Within: ``self.p`` also holds the transposes of the linear weights and of the LM head's,
        taken once (for a decode loop: see :func:`.layers.with_transposes`)."""
        p = self.p
        names = [k for k, w in p.items() if len(w.shape) == 2 and k[:-6] + "bias" in p]
        view = with_transposes(p, names)
        if self.output_name not in p:
            view[self.output_name + ".T"] = tf.transpose(self.get_input_embeddings())
        elif self.output_name not in names:
            view[self.output_name + ".T"] = tf.transpose(p[self.output_name])
        self.__dict__["p"] = view
        try:
            yield
        finally:
            self.__dict__["p"] = p

    def max_positions(self) -> int | None:
        return self.config.max_position_embeddings

    def final(self, x: tf.Tensor) -> tf.Tensor:
        return x

    def all_cross_kv(self, enc: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """Cross-attention keys/values (B, H, S, D) of every layer, projected once per decode."""
        return [self.cross_kv(i, enc) for i in range(self.layer_count())]

    def new_cache(self, B: int | tf.Tensor, M: int) -> tf.Tensor:
        """A zero static cache (L, 2, B, H, M, D)."""
        H = self.heads()
        return tf.zeros((self.layer_count(), 2, B, H, M, self.width() // H))

    def decode(
        self,
        ids: tf.Tensor,
        cross: list[tuple[tf.Tensor, tf.Tensor]],
        enc_mask: tf.Tensor | None,
        attn: SelfAttention,
        past: tf.Tensor | int = 0,
        training: bool = False,
    ) -> tf.Tensor:
        """Logits (B, T, V) of tokens ``ids`` (B, T) after ``past`` positions."""
        x = self.embed(ids, past, training)  # (B, T, C)
        enc_keep = None if enc_mask is None else tf.cast(enc_mask, tf.bool)[:, None, None, :]
        for i in range(self.layer_count()):
            x = self.layer(i, x, attn, cross[i], enc_keep, training)
        return self.head(self.final(x))
