"""The composite's linen module (``encoder``, ``decoder``, ``enc_to_dec_proj``) and its loss, under
:class:`warmstart.flax.FlaxEncoderDecoderModel`; the arithmetic of
:mod:`warmstart.torch.encoder_decoder` (Rothe et al., 2020).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..config import EncoderDecoderConfig, init_std
from ..generation.settings import check_shift_ids
from .families import family
from .layers import apply_recording, cross_entropy


def projects(config: EncoderDecoderConfig) -> bool:
    """Whether encoder states need ``enc_to_dec_proj`` to reach the decoder's width."""
    dec = config.decoder
    return config.encoder.hidden_size != dec.hidden_size and (
        getattr(dec, "cross_attention_hidden_size", None) is None
    )


class EncoderDecoderModule(nn.Module):
    """The linen module: ``encoder``, ``decoder`` and, for differing widths, ``enc_to_dec_proj``."""

    config: EncoderDecoderConfig

    def setup(self) -> None:
        c = self.config
        self.encoder = family(c.encoder).encoder.module_class(c.encoder)
        self.decoder = family(c.decoder).decoder.module_class(c.decoder)
        if projects(c):
            self.enc_to_dec_proj = nn.Dense(
                c.decoder.hidden_size, kernel_init=nn.initializers.normal(init_std(c.decoder))
            )

    def encode(self, input_ids, attention_mask=None, token_type_ids=None, train=False):
        """Encoder states (B, S, C_enc)."""
        return self.encoder(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, train=train
        )[0]

    def decode(
        self,
        decoder_input_ids,
        encoder_hidden_states,
        encoder_attention_mask=None,
        decoder_attention_mask=None,
        cache=None,
        train=False,
    ):
        """Logits (B, T, V) and the new cache, over encoder states (B, S, C_enc)."""
        enc = encoder_hidden_states
        if projects(self.config):
            enc = self.enc_to_dec_proj(enc)  # (B, S, C_dec)
        return self.decoder(
            decoder_input_ids, decoder_attention_mask, enc, encoder_attention_mask, cache, train
        )

    def __call__(
        self,
        input_ids,
        attention_mask,
        decoder_input_ids,
        decoder_attention_mask,
        train=False,
        token_type_ids=None,
    ):
        enc = self.encode(input_ids, attention_mask, token_type_ids, train)
        logits, _ = self.decode(
            decoder_input_ids, enc, attention_mask, decoder_attention_mask, None, train
        )
        return logits, enc


def shift_tokens_right(
    labels: jax.Array, pad_token_id: int | None, decoder_start_token_id: int | None
) -> jax.Array:
    """Decoder inputs from labels (B, T): the start token first, labels moved right by one, -100
    read as pad."""
    check_shift_ids(pad_token_id, decoder_start_token_id)
    labels = jnp.asarray(labels)
    start = jnp.full((labels.shape[0], 1), decoder_start_token_id, labels.dtype)
    shifted = jnp.concatenate([start, labels[:, :-1]], axis=1)
    return jnp.where(shifted == -100, pad_token_id, shifted)


def decoder_inputs_from_labels(
    labels: jax.Array, pad_token_id: int | None, decoder_start_token_id: int | None
) -> tuple[jax.Array, jax.Array]:
    """(decoder_input_ids, decoder_attention_mask) for ``labels``; the start token stays visible
    even when it is the pad id (as the PyTorch side)."""
    ids = shift_tokens_right(labels, pad_token_id, decoder_start_token_id)
    mask = (ids != pad_token_id).astype(jnp.int32).at[:, 0].set(1)
    return ids, mask


def seq2seq_loss(
    module: nn.Module, params: dict, batch: dict, train: bool, rngs: dict, record: bool = False
) -> tuple:
    """Mean cross-entropy of ``batch["labels"]`` (-100 ignored), and (logits, encoder states,
    intermediates): with ``record`` the sown attention weights and hidden states, else ``{}``."""
    args = (
        batch["input_ids"],
        batch.get("attention_mask"),
        batch["decoder_input_ids"],
        batch.get("decoder_attention_mask"),
        train,
        batch.get("token_type_ids"),
    )
    (logits, enc), inter = apply_recording(module, params, args, rngs, record)
    return cross_entropy(logits, batch["labels"]), (logits, enc, inter)
