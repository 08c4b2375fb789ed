"""What an encoder-decoder's two sides share: parameters (``tie_encoder_decoder``, Rothe et al.'s
BERTShare/RoBERTaShare) and vocabularies (resizing one side or both)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .heads import LMHeadDecoder


def tie_encoder_decoder(model: nn.Module) -> None:
    """The encoder takes the decoder body's parameter objects wherever the two name a parameter
    alike (embeddings, model-attention, feed-forward), as transformers 4.x does; the decoder's
    cross-attention and LM head and the encoder's pooler stay its own."""
    prefix, body = decoder_body(model.decoder)
    names = common_parameters(model.encoder, body)
    if not names:
        raise ValueError(
            f"tie_encoder_decoder=True shares the parameters the encoder and the decoder name "
            f"alike, but a {model.config.encoder.model_type} encoder and a "
            f"{model.config.decoder.model_type} decoder have none in common. Tie two models of "
            "one family and equal sizes (bert2bert, roberta2roberta, electra2electra: Rothe et "
            "al.'s BERTShare/RoBERTaShare), or set tie_encoder_decoder=False."
        )
    for name in names:
        owner, _, leaf = name.rpartition(".")
        setattr(model.encoder.get_submodule(owner), leaf, body.get_parameter(name))
    model.shared_parameter_names = [(f"encoder.{n}", f"decoder.{prefix}{n}") for n in names]
    model.encoder.shares_vocabulary = model.decoder.shares_vocabulary = True


def copy_shared_tensors(
    module: nn.Module, state_dict: dict[str, Tensor], prefix: str, local_metadata: dict
) -> None:
    """``state_dict`` post-hook: a tensor whose memory an earlier entry already holds (the LM head
    tied to the word embeddings, the head's bias alias, what ``tie_encoder_decoder`` shares) is
    given as a copy, so that safetensors, which refuses shared memory, writes the dict as it is
    (transformers' ``Trainer`` checkpoints a model that is not its own that way). Names and values
    are unchanged and the dict loads back as before; parameters (``keep_vars=True``) stay."""
    seen: set[int] = set()
    for name, value in state_dict.items():
        if not name.startswith(prefix) or isinstance(value, nn.Parameter) or value.is_meta:
            continue
        address = value.untyped_storage().data_ptr()
        if address in seen:
            state_dict[name] = value.clone()
        elif address:
            seen.add(address)


def untie_encoder_decoder(model: nn.Module) -> None:
    """Give the encoder parameters of its own again (empty ones, for a load to fill)."""
    for name, _ in model.shared_parameter_names:
        owner, _, leaf = name.removeprefix("encoder.").rpartition(".")
        module = model.encoder.get_submodule(owner)
        setattr(module, leaf, nn.Parameter(torch.empty_like(getattr(module, leaf))))
    model.shared_parameter_names = []
    model._loaded_apart = True
    model.encoder.shares_vocabulary = model.decoder.shares_vocabulary = False


def resize_token_embeddings(
    model: nn.Module, new_num_tokens: int, side: str | None = None
) -> nn.Embedding:
    """:meth:`EncoderDecoderModel.resize_token_embeddings` of ``model`` (documented there)."""
    model._refuse_if_quantized("resized")
    sides = _sides_to_resize(model, side)
    for name in sides:  # a parameter the sides share is resized once (then it fits)
        half = getattr(model, name)
        shared, half.shares_vocabulary = half.shares_vocabulary, False
        try:
            half.resize_token_embeddings(new_num_tokens)
        finally:
            half.shares_vocabulary = shared
        getattr(model.config, name).vocab_size = new_num_tokens
    model.tie_weights()
    return getattr(model, sides[0]).get_input_embeddings()


def _sides_to_resize(model: nn.Module, side: str | None) -> tuple[str, ...]:
    if side not in (None, "encoder", "decoder"):
        raise ValueError(f"side must be 'encoder', 'decoder' or None (both), not {side!r}.")
    if side is not None and model.config.tie_encoder_decoder:
        raise ValueError(
            "The encoder and the decoder share their embeddings (tie_encoder_decoder), so "
            "both sides are resized together: call resize_token_embeddings(n) without side."
        )
    enc, dec = model.config.encoder.vocab_size, model.config.decoder.vocab_size
    if side is None and enc != dec:
        raise ValueError(
            f"The encoder has {enc} tokens and the decoder {dec}: they have different "
            "vocabularies, so resize one of them: side='encoder' or side='decoder'."
        )
    return ("encoder", "decoder") if side is None else (side,)


def trained_apart(state: dict[str, Tensor], model: nn.Module) -> bool:
    """Whether a checkpoint holds both names of a shared parameter with different values: saved by
    transformers 5, which keeps the two sides apart whatever ``tie_encoder_decoder`` says."""
    return any(
        all(n in state for n in names) and not torch.equal(*(state[n] for n in names))
        for names in model.shared_parameter_names
    )


def fill_shared(state: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """A shared tensor saved under one of its names (transformers 4.x keeps the decoder's) fills the
    other; tying after the load makes the two one parameter again, the decoder's value winning."""
    for names in model.shared_parameter_names:
        present = [n for n in names if n in state]
        if present:
            for name in names:
                state.setdefault(name, state[present[-1]])
    return state


def decoder_body(decoder: nn.Module) -> tuple[str, nn.Module]:
    """The decoder's body (what an encoder corresponds to) and its name prefix, e.g. ``"bert."``."""
    body = decoder.body if isinstance(decoder, LMHeadDecoder) else decoder
    name = next(n for n, m in decoder.named_modules() if m is body)
    return (name + "." if name else ""), body


def common_parameters(encoder: nn.Module, body: nn.Module) -> list[str]:
    """Names of the parameters both modules hold; their shapes must agree."""
    mine = dict(encoder.named_parameters(remove_duplicate=False))
    theirs = dict(body.named_parameters(remove_duplicate=False))
    common = [n for n in mine if n in theirs]
    wrong = [n for n in common if mine[n].shape != theirs[n].shape]
    if wrong:
        n = wrong[0]
        raise ValueError(
            f"tie_encoder_decoder needs both sides to have the same sizes, but {n} is "
            f"{tuple(mine[n].shape)} in the encoder and {tuple(theirs[n].shape)} in the decoder."
        )
    return common
