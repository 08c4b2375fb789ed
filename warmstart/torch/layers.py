"""Pieces every architecture shares: attention over torch SDPA, dropout, masks, the decoder cache and
the loss (the linear layers' products are in :mod:`warmstart.torch.linear`).

Shape legend: B batch, T query length, S key length, H heads, D head size, C = H * D channels,
L layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..outputs import ModelOutput
from .linear import fuse_linears, linear


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, C) -> (B, H, T, D)."""
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, D) -> (B, T, C)."""
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def attend(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float, is_causal: bool = False
) -> Tensor:
    """Scaled dot-product attention. q (B, H, T, D), k/v (B, H, S, D), additive mask -> (B, T, C)."""
    causal = is_causal and mask is None
    if dropout > 0.0 and q.device.type == "cpu" and not torch.compiler.is_compiling():
        return merge_heads(_attention_with_dropout(q, k, v, mask, dropout, causal))
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal
    )
    return merge_heads(out)


def _attention_with_dropout(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float, causal: bool
) -> Tensor:
    """SDPA's arithmetic with :func:`dropout` on the probabilities (on CPU, SDPA with dropout
    takes its unfused path anyway, with a mask that costs several times more to draw)."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, H, T, S)
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    return dropout(torch.softmax(scores, dim=-1), p, True) @ v


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout`` on CPU with a mask drawn from 16 random bits per element.

    Torch draws one random number per element (``bernoulli_``); slicing 64-bit draws into four
    16-bit lanes draws the mask about six times faster, which is a tenth of a training step of a
    small seq2seq model. An element is dropped with probability ``round(p * 65536) / 65536`` (within
    1e-5 of ``p``) and the kept ones are scaled so that the expectation is unchanged.
    """
    if not training or p == 0.0:
        return x
    if not 0.0 < p < 1.0 or x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.dropout(x, p, training)  # torch's own checks, p = 1, GPUs; inductor's own RNG
    return _Dropout16.apply(x, p)


class _Dropout16(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, p: float) -> Tensor:
        dropped = round(p * 65536)
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        keep = bits.view(torch.int16)[:n].view(x.shape) >= dropped - 32768
        scale = 65536 / (65536 - dropped)
        # in x's dtype: a product with a bool mask would convert it on every use
        mask = keep.to(x.dtype)
        if x.dtype in (torch.float32, torch.float64):
            mask, ctx.scale = mask.mul_(scale), None  # the scale or 0
        else:  # 1 or 0, scaled after: in bf16 or fp16 the scale itself would round
            ctx.scale = scale
        ctx.save_for_backward(mask)
        return _masked(x, mask, ctx.scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (mask,) = ctx.saved_tensors
        return _masked(grad, mask, ctx.scale), None


def _masked(x: Tensor, mask: Tensor, scale: float | None) -> Tensor:
    return x * mask if scale is None else x.mul(mask).mul_(scale)


class Dropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`dropout`; same state and repr."""

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)


def padding_mask(attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """(B, S) of 1 (keep) / 0 (pad) -> additive (B, 1, 1, S), or None when nothing is padded."""
    if attention_mask is None or _all_kept(attention_mask):
        return None
    keep = attention_mask[:, None, None, :].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(
        ~keep, torch.finfo(dtype).min
    )


def _all_kept(attention_mask: Tensor) -> bool:
    """Whether a 0/1 mask keeps every position. Inside ``torch.compile`` the answer is "no", so that
    the graph builds the mask instead of breaking on a data-dependent branch."""
    return not torch.compiler.is_compiling() and bool(attention_mask.all())


def causal_mask(
    T: int, past: int, attention_mask: Tensor | None, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """Additive (B or 1, 1, T, past + T) mask for decoder self-attention, or None when plain causal
    attention (SDPA's ``is_causal``) or no mask at all will do."""
    padded = attention_mask is not None and not _all_kept(attention_mask)
    if not padded and (T == 1 or past == 0):
        return None
    q_pos = torch.arange(past, past + T, device=device)[:, None]
    keep = torch.arange(past + T, device=device)[None, :] <= q_pos  # (T, S)
    keep = keep[None, None]
    if padded:
        keep = keep & attention_mask[:, None, None, : past + T].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill(
        ~keep, torch.finfo(dtype).min
    )


class DecoderCache:
    """Static key/value cache for a decoder with cross-attention.

    Self-attention keys and values of every layer live in one preallocated buffer of shape
    (L, 2, B, H, max_length, D), written in place; cross-attention keys and values are projected once
    from the encoder output and reused. ``reorder`` gathers rows (beam search, batch expansion).
    """

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        head_dim: int,
        max_length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (num_layers, 2, batch_size, num_heads, max_length, head_dim)
        self.kv = torch.zeros(shape, dtype=dtype, device=device)
        self.cross: list[tuple[Tensor, Tensor] | None] = [None] * num_layers
        # per layer: self-attention (weight (3C, C), bias (3C,)) concatenated for this decode only
        self.fused: list[tuple[Tensor, Tensor] | None] = [None] * num_layers
        self.length = 0

    @property
    def max_length(self) -> int:
        return self.kv.shape[4]

    def attend(
        self,
        layer: int,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        dropout: float,
        is_causal: bool,
    ) -> Tensor:
        """Write k/v (B, H, T, D) after the cached ones, attend q over all of them: (B, T, C)."""
        end = self._reserve(k.shape[2])
        self.kv[layer, 0, :, :, self.length : end] = k
        self.kv[layer, 1, :, :, self.length : end] = v
        cached = self.kv[layer, :, :, :, :end]
        return attend(q, cached[0], cached[1], mask, dropout, is_causal)

    def _reserve(self, T: int) -> int:
        """Make room for T more positions (grows only when a caller sized the cache too small)."""
        start, end = self.length, self.length + T
        if end > self.max_length:
            grown = self.kv.new_zeros(
                (*self.kv.shape[:4], max(end, 2 * self.max_length), self.kv.shape[5])
            )
            grown[..., :start, :] = self.kv[..., :start, :]
            self.kv = grown
        return end

    def reorder(self, index: Tensor, cross: bool = True) -> DecoderCache:
        """Keep rows ``index`` (N',) of the batch, in that order; ``cross=False`` leaves the
        cross-attention keys/values alone (beam search: they are equal within an input's beams)."""
        used = self.kv[:, :, :, :, : self.length]
        picked = used.index_select(2, index)  # 5-8x faster than used[:, :, index] on a CPU
        if index.shape[0] == self.kv.shape[2]:
            used.copy_(picked)
        else:  # a new buffer; only the positions written so far are copied
            kv = self.kv.new_empty((*self.kv.shape[:2], index.shape[0], *self.kv.shape[3:]))
            kv[:, :, :, :, : self.length] = picked
            self.kv = kv
        if cross:
            self.cross = [None if c is None else (c[0][index], c[1][index]) for c in self.cross]
        return self


def init_normal_(module: torch.nn.Module, std: float) -> None:
    """transformers' initialisation for the common module types (Linear, Embedding, LayerNorm)."""
    if isinstance(module, torch.nn.Linear):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            torch.nn.init.zeros_(module.bias)
    elif isinstance(module, torch.nn.Embedding):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, torch.nn.LayerNorm):
        torch.nn.init.ones_(module.weight)
        torch.nn.init.zeros_(module.bias)


def resize_rows_(param: nn.Parameter, n: int) -> None:
    """Give a per-token parameter (V, ...) ``n`` rows in place, so that tied names follow.

    The first rows are kept; new rows are drawn as transformers' ``mean_resizing`` does: a matrix's
    from a normal distribution with the old rows' mean and 1e-9 times their covariance (their mean
    when that is not positive definite), a bias's from a normal with the old mean and 1e-9 times
    the old standard deviation.
    """
    old = param.data
    if old.shape[0] == n:
        return
    new = old.new_empty((n, *old.shape[1:]))
    kept = min(n, old.shape[0])
    new[:kept] = old[:kept]
    if n > kept:
        new[kept:] = _new_rows(old.float(), n - kept).to(old.dtype)
    param.data = new
    param.grad = None


def _new_rows(old: Tensor, count: int) -> Tensor:
    mean = old.mean(0)
    if old.dim() == 1:
        return torch.randn(count, device=old.device) * (1e-9 * old.std()) + mean
    centered = old - mean
    covariance = 1e-9 * (centered.T @ centered) / old.shape[0]
    _, info = torch.linalg.cholesky_ex(covariance)
    if info.item() != 0:  # not positive definite
        return mean.expand(count, -1).clone()
    normal = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance)
    return normal.sample((count,))


# ----------------------------------------------------------------- shared by the model families
def check_length(n_tokens: int, allowed: int, model: str) -> None:
    """Refuse an input longer than the learned positions cover, saying how to fix it."""
    if n_tokens > allowed:
        raise ValueError(
            f"The input has {n_tokens} tokens but this {model} allows at most {allowed} "
            "(max_position_embeddings). Truncate it, e.g. tokenizer(..., truncation=True, "
            f"max_length={allowed})."
        )


def decoder_masks(
    T: int,
    past: int,
    attention_mask: Tensor | None,
    encoder_attention_mask: Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor | None, bool, Tensor | None]:
    """Masks of a decoder step: (self-attention mask, whether SDPA's ``is_causal`` applies,
    cross-attention mask)."""
    mask = causal_mask(T, past, attention_mask, dtype, device)
    return mask, T > 1 and past == 0, padding_mask(encoder_attention_mask, dtype)


def decode_stack(
    run: Callable[..., Tensor],
    x: Tensor,
    past: int,
    attention_mask: Tensor | None,
    encoder_hidden_states: Tensor | None,
    encoder_attention_mask: Tensor | None,
    cache: DecoderCache | None,
) -> Tensor:
    """One decoder pass over embeddings x (B, T, C) that follow ``past`` cached positions: build the
    masks, run the layer stack ``run(x, mask, enc, enc_mask, cache, is_causal)`` and advance the
    cache by T."""
    T = x.shape[1]
    mask, is_causal, enc_mask = decoder_masks(
        T, past, attention_mask, encoder_attention_mask, x.dtype, x.device
    )
    x = run(x, mask, encoder_hidden_states, enc_mask, cache, is_causal)
    if cache is not None:
        cache.length += T
    return x


def cross_kv(
    cache: DecoderCache | None, layer: int, project: Callable[[], tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """Cross-attention keys/values (B, H, S, D) of ``layer``: projected by ``project()`` once per
    decode and kept in ``cache.cross``, laid out head by head (attention over the projection's
    (B, S, H, D) layout takes about twice as long at every step)."""
    if cache is None:
        return project()
    kv = cache.cross[layer]
    if kv is None:
        kv = cache.cross[layer] = tuple(t.contiguous() for t in project())
    return kv


def qkv_attention(
    x: Tensor,
    proj: tuple[nn.Module, nn.Module, nn.Module],
    num_heads: int,
    layer: int,
    mask: Tensor | None,
    dropout: float,
    cross: Tensor | None = None,
    cache: DecoderCache | None = None,
    is_causal: bool = False,
) -> Tensor:
    """Multi-head attention with separate query/key/value projections ``proj``.

    Self-attention over x (B, T, C), keys/values appended to ``cache``; or cross-attention over the
    encoder states ``cross`` (B, S, C), projected once per decode. Returns (B, T, C) before the
    output projection.
    """
    if cross is None and cache is not None and not torch.is_grad_enabled():
        return _fused_self_attention(x, proj, num_heads, layer, mask, dropout, cache, is_causal)
    query, key, value = proj
    q = split_heads(query(x), num_heads)  # (B, H, T, D)
    if cross is not None:
        k, v = cross_kv(
            cache,
            layer,
            lambda: (split_heads(key(cross), num_heads), split_heads(value(cross), num_heads)),
        )
    else:
        k, v = split_heads(key(x), num_heads), split_heads(value(x), num_heads)
        if cache is not None:
            return cache.attend(layer, q, k, v, mask, dropout, is_causal)
    return attend(q, k, v, mask, dropout, is_causal)


def _fused_self_attention(
    x: Tensor,
    proj: tuple[nn.Module, nn.Module, nn.Module],
    num_heads: int,
    layer: int,
    mask: Tensor | None,
    dropout: float,
    cache: DecoderCache,
    is_causal: bool,
) -> Tensor:
    """Cached self-attention at inference with one matmul for Q, K and V and one cache write."""
    project = cache.fused[layer]
    if project is None:  # built once per decode from the parameters as they are now
        project = cache.fused[layer] = fuse_linears(proj)
    B, T, C = x.shape
    q, k, v = project(x).view(B, T, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
    return cache.attend(layer, q, k, v, mask, dropout, is_causal)


def vocab_logits(head: nn.Module, x: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ head.weight.T + bias`` (B, T, V) for an LM head whose bias lives beside it (BERT,
    RoBERTa); a quantised head is called as a module."""
    if isinstance(head, nn.Linear):
        return linear(x, head.weight, bias)
    logits = head(x)
    return logits if bias is None else logits + bias


LOSS_CHUNK = 64
"""Rows of logits :func:`cross_entropy` handles at a time."""


def cross_entropy(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """``F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)`` (mean over the labels
    that are not ``ignore_index``; NaN when there are none) for ``logits`` (N, V) and ``labels``
    (N,); the arithmetic is in fp32 whatever the logits' dtype, the gradient in theirs.

    On CPU outside ``torch.compile`` it keeps neither the log-probabilities for the backward nor a
    one-hot gradient: the forward takes the log-softmax of a slice of rows at a time into one
    reused buffer, and the backward writes ``softmax - one_hot`` straight into the gradient. For a
    vocabulary of 30k and 512 targets that saves three 60 MB buffers and their passes per
    training step, and two more (the fp32 copy and its gradient) for bf16 logits.
    """
    if logits.device.type != "cpu" or torch.compiler.is_compiling():
        return F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)
    return _CrossEntropy.apply(logits, labels, ignore_index)


def _check_targets(targets: Tensor, vocab: int, ignore_index: int) -> None:
    """A clear error for a label that is no token id (torch's would be an index error deep in the
    loss, or a wrong loss)."""
    if targets.numel() == 0:
        return
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= vocab:
        bad = high if high >= vocab else low
        raise IndexError(
            f"Target {bad} is out of bounds: labels must be token ids below the decoder's "
            f"vocabulary size {vocab}, or {ignore_index} where the loss should ignore a position."
        )


def _row_slices(n: int) -> Iterator[slice]:
    return (slice(i, i + LOSS_CHUNK) for i in range(0, n, LOSS_CHUNK))


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, ignore_index: int) -> Tensor:
        counted = labels != ignore_index
        targets = labels.masked_fill(~counted, 0)
        _check_targets(targets, logits.shape[-1], ignore_index)
        picked = logits.new_empty(logits.shape[0], 1, dtype=torch.float32)  # target log-probs
        scratch = _Fp32Rows(logits)
        for rows in _row_slices(logits.shape[0]):
            x = scratch.rows(logits[rows])
            log_probs = torch.ops.aten._log_softmax.out(x, -1, False, out=scratch.out[: len(x)])
            torch.gather(log_probs, 1, targets[rows, None], out=picked[rows])
        count = counted.sum()
        ctx.save_for_backward(logits, targets, counted, count)
        return -(picked.squeeze(1) * counted).sum() / count

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        logits, targets, counted, count = ctx.saved_tensors
        scale = ((grad / count) * counted)[:, None]  # the mean's weight of each row, 0 if ignored
        out = torch.empty_like(logits)
        scratch = _Fp32Rows(logits)
        for rows in _row_slices(logits.shape[0]):
            x = scratch.rows(logits[rows])
            probs = out[rows] if scratch.same else scratch.out[: len(x)]
            torch.ops.aten._softmax.out(x, -1, False, out=probs)
            probs.mul_(scale[rows]).scatter_add_(1, targets[rows, None], -scale[rows])
            if not scratch.same:
                out[rows] = probs
        return out, None, None


class _Fp32Rows:
    """Buffers for :class:`_CrossEntropy`: a slice of rows in fp32 (the logits' own rows when they
    are fp32, else a copy) and a slice-sized fp32 output."""

    def __init__(self, logits: Tensor) -> None:
        self.same = logits.dtype == torch.float32
        size = (min(LOSS_CHUNK, logits.shape[0]), logits.shape[1])
        self.out = logits.new_empty(size, dtype=torch.float32)
        self.copy = None if self.same else logits.new_empty(size, dtype=torch.float32)

    def rows(self, x: Tensor) -> Tensor:
        return x if self.copy is None else self.copy[: len(x)].copy_(x)


def run_layers(layers: Iterable[nn.Module], x: Tensor, *args, checkpointing: bool) -> Tensor:
    """Apply ``layers`` in turn; with ``checkpointing``, recompute activations in the backward."""
    for layer in layers:
        x = checkpoint(layer, x, *args, use_reentrant=False) if checkpointing else layer(x, *args)
    return x


def new_cache(
    like: Tensor, num_layers: int, batch_size: int, num_heads: int, width: int, max_length: int
) -> DecoderCache:
    """An empty ``DecoderCache`` on the device and in the dtype of parameter ``like``."""
    return DecoderCache(
        num_layers, batch_size, num_heads, width // num_heads, max_length, like.dtype, like.device
    )


@dataclass
class CausalLMOutput(ModelOutput):
    """What a decoder returns, read like transformers' decoder outputs (``out.logits``,
    ``out[0]``)."""

    logits: Tensor  # (B, T, V)


class ResizableVocabulary:
    """``resize_token_embeddings`` for one side of a seq2seq model (an encoder, or a decoder under
    its LM head), the per-side call transformers points encoder-decoder users to."""

    shares_vocabulary: bool = False  # set when tie_encoder_decoder shares it with the other side

    def resize_token_embeddings(self, new_num_tokens: int) -> nn.Embedding:
        """Give this side ``new_num_tokens`` tokens: word embeddings, the LM head (kept tied) and
        its bias keep their first rows, new rows drawn as :func:`resize_rows_` does;
        ``config.vocab_size`` follows. Returns the input embeddings."""
        if self.shares_vocabulary:
            raise ValueError(
                "This side shares its embeddings with the other side (tie_encoder_decoder): resize "
                "both together with model.resize_token_embeddings(n)."
            )
        modules, params = self.vocabulary_parameters()
        for param in params:
            resize_rows_(param, new_num_tokens)
        for module in modules:
            if isinstance(module, nn.Embedding):
                module.num_embeddings = new_num_tokens
                if module.padding_idx is not None and module.padding_idx >= new_num_tokens:
                    module.padding_idx = None
            elif isinstance(module, nn.Linear):
                module.out_features = new_num_tokens
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return self.get_input_embeddings()

    def vocabulary_parameters(self) -> tuple[list[nn.Module], list[nn.Parameter]]:
        """The modules with a row per token (word embeddings, BART's ``shared`` and both stacks'
        copies, a decoder's LM head) and their parameters, the LM head's bias included; a
        parameter tied to another is listed once."""
        token_embeddings = getattr(self, "token_embeddings", None)
        modules = token_embeddings() if token_embeddings else [self.get_input_embeddings()]
        params = []
        if isinstance(self, LMHeadDecoder):
            modules.append(self.get_output_embeddings())
            params.append(self.output_bias())
        params += [m.weight for m in modules]
        unique = {id(p): p for p in params if p is not None}
        return modules, list(unique.values())


class LMHeadDecoder(ResizableVocabulary, nn.Module):
    """A decoder body (the attribute named ``base_model_prefix``) under a language-model head.

    This is the decoder contract ``EncoderDecoderModel`` relies on: ``forward`` returns the logits
    (B, T, V) in a :class:`CausalLMOutput`, ``new_cache``, ``tie_weights`` and the embedding accessors. Subclasses build the body
    and the head and implement ``head`` and ``get_output_embeddings``.
    """

    base_model_prefix = ""
    config: Any

    @property
    def body(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def head(self, h: Tensor) -> Tensor:
        raise NotImplementedError

    def get_input_embeddings(self) -> nn.Embedding:
        return self.body.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Linear:
        raise NotImplementedError

    def output_bias(self) -> nn.Parameter | None:
        """The LM head's per-token bias (BERT and RoBERTa keep it beside the projection)."""
        return self.get_output_embeddings().bias

    def tie_weights(self) -> None:
        """Share the LM head's weight with the word embeddings when the config says so."""
        if self.config.tie_word_embeddings:
            self.get_output_embeddings().weight = self.get_input_embeddings().weight

    def new_cache(self, batch_size: int, max_length: int) -> DecoderCache:
        return self.body.new_cache(batch_size, max_length)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        cache: DecoderCache | None = None,
        last_only: bool = False,
    ) -> CausalLMOutput:
        """The logits (B, T, V); with ``cache``, continue after its ``length`` tokens; with
        ``last_only``, only the last position's (B, 1, V)."""
        h = self.body(
            input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            inputs_embeds=inputs_embeds,
            cache=cache,
        ).last_hidden_state  # (B, T, C)
        return CausalLMOutput(self.head(h[:, -1:] if last_only else h))
