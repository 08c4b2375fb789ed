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

from .. import families, hub
from ..config import CONFIG_NAME, Config, EncoderDecoderConfig, as_config, init_std, set_fields
from ..outputs import BaseModelOutput, wanted
from . import checkpoint
from .inputs import call_inputs, int_tensor
from .layers import SelfAttention, causal_keep, cross_entropy, project, with_transposes
from .outputs import TFCausalLMOutput

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

    def __init__(self, config: Config, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", None))
        # a plain attribute, not tracked by Keras; transformers' config objects are converted
        self.__dict__["config"] = as_config(config, f"{type(self).__name__}'s config")
        std = init_std(self.config)
        params = {}
        for name, (shape, kind) in self.weight_specs().items():
            init = keras.initializers.RandomNormal(0.0, std) if kind == "normal" else kind
            params[name] = self.add_weight(shape=shape, initializer=init, name=name)
        self.__dict__["p"] = params
        self.built = True

    # ----------------------------------------------------------------- to define per family
    def weight_specs(self) -> dict[str, Spec]:
        raise NotImplementedError

    def layer_count(self) -> int:
        raise NotImplementedError

    def heads(self) -> int:
        raise NotImplementedError

    def final(self, x: tf.Tensor) -> tf.Tensor:
        """What follows the last layer (GPT-2's ``ln_f``; nothing for post-LN families)."""
        return x

    # ----------------------------------------------------------------- the layer stack
    def run_layers(
        self,
        x: tf.Tensor,
        attn: SelfAttention,
        cross: list | None,
        enc_keep: tf.Tensor | None,
        training: bool,
    ) -> tf.Tensor:
        """The layers (each reading its ``cross`` keys/values, when given) and :meth:`final` over
        the embeddings x (B, T, C); ``attn`` keeps the hidden states when asked, the last one
        after :meth:`final`."""
        attn.keep_state(x)
        for i in range(self.layer_count()):
            x = self.layer(i, x, attn, None if cross is None else cross[i], enc_keep, training)
            attn.keep_state(x)
        x = self.final(x)
        if attn.hidden_states:
            attn.states[-1] = x
        return x

    # ----------------------------------------------------------------- weights by name
    def assign_state(self, state: dict[str, np.ndarray], strict: bool) -> list[str]:
        """Assign arrays by name; return the names the state lacked. Unknown names raise with
        ``strict``, else are dropped with a warning; tied aliases are skipped."""
        tied = families.FAMILIES[self.config.model_type].tied  # aliases of the word embeddings
        aliases = tied if self.config.tie_word_embeddings else ()
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
            config: use this config instead of the saved one (ours or transformers').
            **kw: config fields to set (``is_decoder=True, add_cross_attention=True``);
                transformers 4.x's TF loading options (``name``, ``output_loading_info``, ...).
        """
        options = loading_options(kw)
        folder = hub.resolve_with(pretrained_model_name_or_path, kw)
        config = as_config(config) if config is not None else checkpoint.read_config(folder)
        if isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} is a whole encoder-decoder; load it with "
                "TFEncoderDecoderModel.from_pretrained."
            )
        set_fields(config, kw, "from_pretrained()")
        model = cls(config, name=options["name"])
        model.newly_initialized = checkpoint.load_half(model, folder)
        return with_loading_info(model, model.newly_initialized, options)

    def save_pretrained(self, save_directory: str | os.PathLike, **options: Any) -> None:
        """config.json and model.safetensors in PyTorch's layout, atomically (4.x's keywords:
        :func:`check_save_options`)."""
        check_save_options(options)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__.removeprefix("TF")]
        state = checkpoint.to_checkpoint(self.config, self.state(), self.is_decoder_class)
        with hub.atomic_folder(save_directory, replaces=(CONFIG_NAME, *hub.WEIGHT_FILES)) as tmp:
            hub.write_text_atomic(tmp / CONFIG_NAME, checkpoint.to_json(config))
            hub.save_arrays(state, tmp / hub.SAFE_WEIGHTS)


LOADING_OPTIONS = (
    "from_pt",
    "from_tf",
    "load_weight_prefix",
    "use_safetensors",
    "resume_download",
    "mirror",
)
"""transformers 4.x TF ``from_pretrained`` options with nothing to do here (every layout is read)."""


def loading_options(kw: dict[str, Any]) -> dict[str, Any]:
    """Take transformers 4.x's TF ``from_pretrained`` options out of ``kw``: the Keras ``name``,
    ``output_loading_info``; the no-op ones dropped; ``ignore_mismatched_sizes=True`` refused."""
    for name in (*LOADING_OPTIONS, *hub.DOWNLOAD_ONLY_OPTIONS):
        kw.pop(name, None)
    if kw.pop("ignore_mismatched_sizes", False):
        raise ValueError(
            "ignore_mismatched_sizes=True is not supported: load with a config that matches the "
            "checkpoint, then resize (resize_token_embeddings) or replace the layers that differ."
        )
    return {"name": kw.pop("name", None), "info": kw.pop("output_loading_info", False)}


def check_save_options(options: dict[str, Any]) -> None:
    """transformers 4.x's TF ``save_pretrained`` keywords: ``safe_serialization``,
    ``max_shard_size``, ``version``, ``signatures``, ``token``, ``create_pr`` change nothing (one
    safetensors file in PyTorch's layout is written); ``push_to_hub`` and ``saved_model`` are
    refused, naming what to use."""
    if options.get("push_to_hub"):
        raise ValueError(
            "push_to_hub=True is not supported: save the folder, then upload it with "
            "huggingface_hub (HfApi().upload_folder)."
        )
    if options.get("saved_model"):
        raise ValueError(
            "saved_model=True is not supported: export a generating SavedModel with "
            "warmstart.tf.export.save_for_serving(model, folder)."
        )


def with_loading_info(model: Any, missing: list[str], options: dict[str, Any]) -> Any:
    """``model``, or ``(model, info)`` for ``output_loading_info=True`` (transformers' keys)."""
    if not options["info"]:
        return model
    info = {"missing_keys": list(missing), "unexpected_keys": [], "mismatched_keys": []}
    return model, info


def asked(config: Any, output_attentions: bool | None, output_hidden_states: bool | None):
    """A call's ``attentions``/``hidden_states`` recording: the keyword, else the config's
    ``output_attentions`` / ``output_hidden_states`` (transformers' defaults)."""
    return {
        "attentions": wanted(output_attentions, config, "output_attentions"),
        "hidden_states": wanted(output_hidden_states, config, "output_hidden_states"),
    }


def body_output(
    attn: SelfAttention, x: tf.Tensor, pooled: tf.Tensor | None, return_dict: bool | None
) -> BaseModelOutput | tuple:
    """A body's output: states (B, S, C), the pooled (B, C), and what was recorded."""
    out = BaseModelOutput(last_hidden_state=x, pooler_output=pooled, **attn.recorded())
    return out.to_tuple() if return_dict is False else out


ENCODER_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "training",
)
DECODER_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "encoder_hidden_states",
    "encoder_attention_mask",
    "labels",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "training",
)


class TFDecoder:
    """The decoder contract (mixin): a family supplies ``embed``, ``layer``, ``cross_kv``,
    ``final`` and ``head``; this runs a pass with or without a static cache."""

    config: Any
    output_name = "lm_head.weight"
    """The LM head's weight (V, C), tied to the input embeddings or not."""

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
        cross: list[tuple[tf.Tensor, tf.Tensor] | None],
        enc_mask: tf.Tensor | None,
        attn: SelfAttention,
        past: tf.Tensor | int = 0,
        training: bool = False,
        token_type_ids: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Logits (B, T, V) of tokens ``ids`` (B, T) after ``past`` positions (``attn`` records
        the hidden states, the last one after the final norm, when asked)."""
        types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        x = self.embed(ids, past, training, **types)  # (B, T, C)
        enc_keep = None if enc_mask is None else tf.cast(enc_mask, tf.bool)[:, None, None, :]
        return self.head(self.run_layers(x, attn, cross, enc_keep, training))

    def call(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        labels: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        training: bool = False,
        use_cache: bool | None = None,  # 4.x's keyword: a full pass keeps no cache
        **kwargs: Any,
    ) -> TFCausalLMOutput | tuple:
        """A causal pass, as transformers 4.x's TF causal LMs: logits (B, T, V) over
        ``input_ids`` (B, T), reading ``encoder_hidden_states`` (B, S, C) by cross-attention when
        given; ``loss`` of logits[:, :-1] against labels[:, 1:] when ``labels`` (B, T) are given;
        attention weights and hidden states when asked (keyword, else the config's field)."""
        named = {k: v for k, v in locals().items() if k in DECODER_INPUTS}
        a = call_inputs(type(self).__name__, DECODER_INPUTS, named, kwargs)
        ids = int_tensor(a["input_ids"])
        if ids is None:
            raise ValueError(f"Pass input_ids to {type(self).__name__}.")
        types = int_tensor(a["token_type_ids"])
        if types is not None and not getattr(self, "token_types", False):
            raise TypeError(f"{type(self).__name__} has no token types; leave token_type_ids None.")
        cross = cross_keys_values(self, a["encoder_hidden_states"], self.layer_count())
        mask = int_tensor(a["attention_mask"])
        attn = SelfAttention(
            causal_keep(tf.shape(ids)[1], mask),
            rate=attention_rate(self.config),
            training=bool(a["training"]),
            **asked(self.config, a["output_attentions"], a["output_hidden_states"]),
        )
        enc_mask = int_tensor(a["encoder_attention_mask"])
        logits = self.decode(ids, cross, enc_mask, attn, 0, bool(a["training"]), types)
        labels = int_tensor(a["labels"])
        loss = None if labels is None else cross_entropy(logits[:, :-1], labels[:, 1:])
        out = TFCausalLMOutput(loss=loss, logits=logits, **attn.recorded())
        return out.to_tuple() if a["return_dict"] is False else out


def cross_keys_values(model: Any, enc: Any, layers: int) -> list:
    """Each of ``layers`` layers' cross-attention keys/values (B, H, S, D), projected once from the
    encoder states ``enc`` (B, S, C); None for each layer when ``enc`` is None."""
    if enc is None:
        return [None] * layers
    if not model.config.add_cross_attention:
        raise ValueError(
            f"This {type(model).__name__} has no cross-attention: build it with "
            "is_decoder=True and add_cross_attention=True to pass encoder_hidden_states."
        )
    enc = tf.convert_to_tensor(enc, tf.float32)
    return [model.cross_kv(i, enc) for i in range(layers)]


def attention_rate(config: Any) -> float:
    """A family's attention-probability dropout (named differently per family)."""
    for name in ("attention_probs_dropout_prob", "attn_pdrop", "attention_dropout"):
        if hasattr(config, name):
            return getattr(config, name)
    return 0.0
