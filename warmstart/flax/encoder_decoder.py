"""FlaxEncoderDecoderModel: any supported encoder composed with any supported decoder, in JAX/Flax.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020.
The API is transformers 4.x's ``FlaxEncoderDecoderModel`` (``params``, ``encode``, ``decode``,
``init_cache``, ``generate``, ``params=``/``dropout_rng=``/``train=`` on every call), so 4.x code ports
by changing the import. Checkpoints are the PyTorch layout (config.json + model.safetensors with
``encoder.*``/``decoder.*`` names), read and written here; ``flax_model.msgpack`` files of 4.x load too.
The arithmetic follows :mod:`warmstart.torch.encoder_decoder`, the first reference.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict

from .. import hub
from ..config import EncoderDecoderConfig
from ..generation import GenerationConfig
from ..generation.settings import GenerationSettings
from ..outputs import BaseModelOutput, ModelOutput
from . import generation, weights
from .families import family
from .layers import new_cache
from .pretrained import (
    FlaxCausalLMOutput,
    as_jax,
    check_tree,
    dropout_rngs,
    fresh_params,
    init_std,
    load_half,
    read_config,
    read_weights,
    save_folder,
    set_fields,
    summarize,
)
from .seq2seq import (
    EncoderDecoderModule,
    decoder_inputs_from_labels,
    seq2seq_loss,
    shift_tokens_right,
)

logger = logging.getLogger("warmstart")

_COMPILED: dict[tuple[str, Any], Any] = {}
"""(architecture, name) -> a jitted call or generation loop, shared by the models of one
architecture (jax keeps one compile per input shape inside each)."""


@dataclass
class FlaxSeq2SeqLMOutput(ModelOutput):
    """What ``FlaxEncoderDecoderModel.__call__`` returns; read like transformers' outputs."""

    loss: Any = None
    logits: Any = None
    encoder_last_hidden_state: Any = None


class FlaxEncoderDecoderModel(GenerationSettings):
    """A sequence-to-sequence model in Flax: ``config``, linen ``module`` and ``params``."""

    main_input_name = "input_ids"

    def __init__(
        self, config: EncoderDecoderConfig, params: dict | None = None, seed: int = 0
    ) -> None:
        if not isinstance(config, EncoderDecoderConfig):
            raise TypeError(f"config must be an EncoderDecoderConfig, not {type(config).__name__}.")
        dec = config.decoder
        if not (dec.is_decoder and dec.add_cross_attention):
            raise ValueError(
                "The decoder has no cross-attention, so it cannot read the encoder. Build its config "
                "with is_decoder=True and add_cross_attention=True (from_encoder_decoder_configs does)."
            )
        if family(config.encoder).encoder is None:
            raise ValueError(f"A {config.encoder.model_type} model cannot be the encoder.")
        self.config = config
        self.module = EncoderDecoderModule(config)
        self.params = params if params is not None else self.init_weights(seed)
        gen = GenerationConfig.from_model_config(config)
        gen.extra["_from_model_config"] = True
        self._adopt_generation_config(gen)

    def init_weights(self, seed: int = 0) -> dict:
        """Fresh parameters, initialised as transformers initialises each half's."""
        ids = jnp.ones((1, 1), jnp.int32)
        c = self.config
        stds = {"encoder": init_std(c.encoder), "decoder": init_std(c.decoder)}
        return fresh_params(
            lambda r: self.module.init(r, ids, None, ids, None),
            lambda path: stds.get(path[0], stds["decoder"]),
            seed,
        )

    # ------------------------------------------------------------------------------- loading
    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        decoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> FlaxEncoderDecoderModel:
        """Warm-start from a pretrained encoder checkpoint and a pretrained decoder checkpoint.

        Args:
            encoder_pretrained_model_name_or_path: folder or repo id of the encoder.
            decoder_pretrained_model_name_or_path: folder or repo id of the decoder.
            **kwargs: ``encoder_*``/``decoder_*`` set fields of that side's config
                (``encoder_from_pt=True`` and the like are accepted and not needed); the rest
                (``decoder_start_token_id=``, ...) set fields of the composite config.

        Returns:
            The model; the decoder's new cross-attention is initialised and reported by name.
        """
        sides: dict[str, dict] = {"encoder": {}, "decoder": {}}
        for key in list(kwargs):
            side, _, rest = key.partition("_")
            if side in sides and rest:
                sides[side][rest] = kwargs.pop(key)
        folders, configs = {}, {}
        for side, path in (
            ("encoder", encoder_pretrained_model_name_or_path),
            ("decoder", decoder_pretrained_model_name_or_path),
        ):
            if path is None:
                raise ValueError(f"Pass the {side} checkpoint (a folder or repo id).")
            folders[side] = hub.resolve_with(path, sides[side])
            config = sides[side].pop("config", None) or read_config(folders[side])
            if isinstance(config, EncoderDecoderConfig):
                raise ValueError(f"{folders[side]} is a whole encoder-decoder, not an {side}.")
            config.is_decoder = config.add_cross_attention = side == "decoder"
            set_fields(config, sides[side], f"from_encoder_decoder_pretrained({side}_...)")
            configs[side] = config
        config = EncoderDecoderConfig(encoder=configs["encoder"], decoder=configs["decoder"])
        set_fields(config, kwargs, "from_encoder_decoder_pretrained()")
        model = cls(config)
        params = dict(model.params)
        for side in ("encoder", "decoder"):
            params[side] = load_half(
                configs[side], folders[side], side == "decoder", model.params[side]
            )
        if "enc_to_dec_proj" in params:
            logger.warning("Newly initialised (train before use): enc_to_dec_proj.{kernel,bias}")
        model.params = params
        return model

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **options: Any
    ) -> FlaxEncoderDecoderModel:
        """Load a whole encoder-decoder saved by any framework's ``save_pretrained`` (PyTorch
        layout), or by transformers 4.x's Flax model (``flax_model.msgpack``); keywords that name
        config fields are set on the config."""
        folder = hub.resolve_with(pretrained_model_name_or_path, options)
        config = options.pop("config", None) or read_config(folder)
        if not isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} holds a {config.model_type!r} model, not an encoder-decoder; use "
                "FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(encoder, decoder)."
            )
        set_fields(config, options, "FlaxEncoderDecoderModel.from_pretrained()")
        model = cls(config)
        kind, state = read_weights(folder)
        if kind == "flax":
            model.params = as_jax(check_tree(state, model.params, str(folder)))
        else:
            model.params = as_jax(_composite_params(config, state, model.params))
        return model

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        params: dict | None = None,
        flax_msgpack: bool = False,
    ) -> None:
        """Write config.json and model.safetensors in the PyTorch layout (one folder serves every
        framework), and with ``flax_msgpack`` also transformers 4.x's ``flax_model.msgpack``;
        atomically, other files in the folder kept."""
        params = self.params if params is None else params
        state = {}
        for side in ("encoder", "decoder"):
            half = weights.to_torch_names(
                getattr(self.config, side), params[side], side == "decoder"
            )
            state.update({f"{side}.{k}": v for k, v in half.items()})
        if "enc_to_dec_proj" in params:
            proj = params["enc_to_dec_proj"]
            state["enc_to_dec_proj.weight"] = np.asarray(proj["kernel"]).T
            state["enc_to_dec_proj.bias"] = np.asarray(proj["bias"])
        save_folder(save_directory, self.config, state, params if flax_msgpack else None)

    # ------------------------------------------------------------------------------- calls
    def _jit(self, name: Any, fn: Any, **jit_options: Any) -> Any:
        """``jax.jit(fn)``, made once per architecture: ``fn`` may read ``self.module`` and the
        architecture, never the parameters or token ids, which are arguments."""
        key = (self._architecture(), name)
        if key not in _COMPILED:
            _COMPILED[key] = jax.jit(fn, **jit_options)
        return _COMPILED[key]

    def _architecture(self) -> str:
        sides = (self.config.encoder.to_dict(), self.config.decoder.to_dict())
        return json.dumps(sides, sort_keys=True, default=str)

    def encode(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
    ) -> BaseModelOutput:
        """The encoder's output: ``last_hidden_state`` (B, S, C_enc)."""
        run = self._jit(
            "encode",
            lambda p, ids, mask, types, rngs, train: self.module.apply(
                {"params": p}, ids, mask, types, train, rngs=rngs, method="encode"
            ),
            static_argnames="train",
        )
        params = self.params if params is None else params
        h = run(
            params,
            jnp.asarray(input_ids),
            _opt(attention_mask),
            _opt(token_type_ids),
            dropout_rngs(dropout_rng, train),
            train=train,
        )
        return BaseModelOutput(last_hidden_state=h)

    def decode(
        self,
        decoder_input_ids: jax.Array,
        encoder_outputs: BaseModelOutput | tuple | jax.Array,
        encoder_attention_mask: jax.Array | None = None,
        decoder_attention_mask: jax.Array | None = None,
        past_key_values: dict | None = None,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
    ) -> FlaxCausalLMOutput:
        """Decoder logits (B, T, V) over the encoder's output; with ``past_key_values`` (from
        :meth:`init_cache` or a previous call) continue after the cached tokens and return the new
        cache as ``past_key_values`` (``decoder_attention_mask`` then covers the cache's length)."""
        run = self._jit(
            "decode",
            lambda p, ids, enc, enc_mask, mask, cache, rngs, train: self.module.apply(
                {"params": p}, ids, enc, enc_mask, mask, cache, train, rngs=rngs, method="decode"
            ),
            static_argnames="train",
        )
        params = self.params if params is None else params
        logits, cache = run(
            params,
            jnp.asarray(decoder_input_ids),
            generation.last_hidden_state(encoder_outputs),
            _opt(encoder_attention_mask),
            _opt(decoder_attention_mask),
            past_key_values,
            dropout_rngs(dropout_rng, train),
            train=train,
        )
        return FlaxCausalLMOutput(logits=logits, past_key_values=cache)

    def init_cache(self, batch_size: int, max_length: int, encoder_outputs: Any = None) -> dict:
        """An empty decoder cache for ``max_length`` positions (the cross-attention keys/values
        are projected from the encoder output on the first :meth:`decode` and kept)."""
        dec = self.config.decoder
        heads = getattr(dec, "decoder_attention_heads", None) or dec.num_attention_heads
        layers = getattr(dec, "decoder_layers", None) or dec.num_hidden_layers
        limit = dec.max_position_embeddings
        if max_length > limit:
            raise ValueError(
                f"max_length {max_length} exceeds the decoder's {limit} positions "
                "(max_position_embeddings)."
            )
        return new_cache(layers, batch_size, heads, dec.hidden_size, max_length)

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        decoder_input_ids: jax.Array | None = None,
        decoder_attention_mask: jax.Array | None = None,
        labels: jax.Array | None = None,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
        token_type_ids: jax.Array | None = None,
    ) -> FlaxSeq2SeqLMOutput:
        """Encode the source and decode the target.

        Args:
            input_ids: (B, S) source ids; attention_mask (B, S) 1 for tokens, 0 for padding.
            decoder_input_ids: (B, T) decoder inputs; built from ``labels`` when omitted.
            decoder_attention_mask: (B, T); from labels: the non-pad positions.
            labels: (B, T) targets, -100 where the loss should ignore a position.
            params, dropout_rng, train: other parameters, the dropout key, training mode.

        Returns:
            ``loss`` (with labels), ``logits`` (B, T, V) and ``encoder_last_hidden_state``.
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(
                    "Pass decoder_input_ids or labels (decoder inputs are built from labels)."
                )
            decoder_input_ids, mask = decoder_inputs_from_labels(
                labels, self.config.pad_token_id, self.config.decoder_start_token_id
            )
            decoder_attention_mask = (
                mask if decoder_attention_mask is None else decoder_attention_mask
            )
        batch = {
            "input_ids": jnp.asarray(input_ids),
            "attention_mask": _opt(attention_mask),
            "decoder_input_ids": jnp.asarray(decoder_input_ids),
            "decoder_attention_mask": _opt(decoder_attention_mask),
            "labels": jnp.zeros_like(decoder_input_ids) if labels is None else jnp.asarray(labels),
            "token_type_ids": _opt(token_type_ids),
        }
        run = self._jit(
            "forward",
            partial(seq2seq_loss, self.module),
            static_argnames="train",
        )
        params = self.params if params is None else params
        loss, (logits, enc) = run(params, batch, train=train, rngs=dropout_rngs(dropout_rng, train))
        return FlaxSeq2SeqLMOutput(None if labels is None else loss, logits, enc)

    def prepare_decoder_input_ids_from_labels(self, labels: jax.Array) -> jax.Array:
        return shift_tokens_right(
            labels, self.config.pad_token_id, self.config.decoder_start_token_id
        )

    def generate(
        self, input_ids: jax.Array | None = None, **kwargs: Any
    ) -> generation.FlaxGenerateOutput:
        """Generate under ``jax.jit``: greedy, beam search or sampling; see
        :func:`warmstart.flax.generation.generate` for the options."""
        return generation.generate(self, input_ids, **kwargs)


def _opt(x: Any) -> jax.Array | None:
    return None if x is None else jnp.asarray(x)


def _composite_params(
    config: EncoderDecoderConfig, state: dict[str, np.ndarray], initial: dict
) -> dict:
    """A composite PyTorch-layout checkpoint on the model's ``initial`` params."""
    loaded: dict[tuple, np.ndarray] = {}
    shapes = {p: np.shape(v) for p, v in flatten_dict(initial).items()}
    for side in ("encoder", "decoder"):
        prefix = side + "."
        half = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        mine = {p[1:]: s for p, s in shapes.items() if p[0] == side}
        got, dropped = weights.from_torch_names(
            getattr(config, side), half, side == "decoder", mine
        )
        if dropped:
            raise ValueError(
                f"The checkpoint has {side} tensors this model has no place for: "
                f"{', '.join(dropped[:3])}. Is config.json the checkpoint's?"
            )
        loaded.update({(side, *p): v for p, v in got.items()})
    if "enc_to_dec_proj.weight" in state:
        loaded[("enc_to_dec_proj", "kernel")] = state["enc_to_dec_proj.weight"].T
        loaded[("enc_to_dec_proj", "bias")] = state["enc_to_dec_proj.bias"]
    params, missing = weights.merge(initial, loaded)
    if missing:
        logger.warning("Newly initialised (train before use): %s", "; ".join(summarize(missing)))
    return params
