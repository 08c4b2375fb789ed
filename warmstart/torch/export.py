"""ONNX export of an ``EncoderDecoderModel`` for :mod:`warmstart.onnx` (onnxruntime, no framework).

Three graphs, the split cached decoding needs (as in Vaswani et al.'s incremental decoding):

- ``encoder.onnx``: ``input_ids`` (B, S), ``attention_mask`` (B, S) -> ``encoder_hidden_states``
  (B, S, C), already through ``enc_to_dec_proj`` when the widths differ.
- ``cross_kv.onnx``: ``encoder_hidden_states`` -> ``cross_key.{i}`` / ``cross_value.{i}``
  (B, H, S, D) for every decoder layer ``i``: the cross-attention keys/values, projected once.
- ``decoder_step.onnx``: ``input_ids`` (N, 1) for N = B * beams rows (an input's beams adjacent),
  ``beam_index`` (N,) (the row of the past each row continues: beam search's reorder, done in the
  graph), ``encoder_attention_mask`` (B, S), the cross keys/values (B, H, S, D) and
  ``past_key.{i}`` / ``past_value.{i}`` (N', H, P, D) -> ``logits`` and ``log_probs`` (N, V) of
  the new token and ``present_key.{i}`` / ``present_value.{i}`` (N, H, P + 1, D). The beams of an
  input share its cross keys/values: the step reads them once per input, not once per beam.

The graphs come from the plain PyTorch model through ``torch.onnx.export`` (the dynamo exporter),
so every family of the PyTorch side exports alike. Attention is traced as explicit products (the
scale on the queries, keys transposed inside the product), which onnxruntime runs without copying
the keys, and a weight the graph transposes (a tied LM head) is stored transposed. Beside them:
``config.json``, ``generation_config.json``, the tokenizer files of the source folder, and
``onnx_export.json`` (the export's version and sizes, which the runtime checks). With
``quantize="int8"`` the graphs' matrix weights are stored in int8 by onnxruntime's dynamic
quantisation (needs ``onnxruntime``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..hub import write_text_atomic
from .speed import recording
from .speed.fused import FusedDecoderCache

EXPORT_VERSION = 2
MANIFEST = "onnx_export.json"
GRAPHS = ("encoder.onnx", "cross_kv.onnx", "decoder_step.onnx")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)
OPSET = 18

logger = logging.getLogger("warmstart")


class _ExportCache(FusedDecoderCache):
    """A decoder cache made of graph inputs: the past self-attention keys/values per layer
    (concatenated with the new ones, kept as ``present``) and the cross-attention keys/values;
    Q, K and V projected by one product, as ``generate`` does."""

    def __init__(
        self, past: list[tuple[Tensor, Tensor]] | None, cross: list[Any], length: Any
    ) -> None:
        self.past = past
        self.present: list[tuple[Tensor, Tensor] | None] = [None] * len(cross)
        self.cross = cross
        self.fused = [None] * len(cross)
        self.length = length

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """k/v (N, H, 1, D) after the past ones: (N, H, P + 1, D)."""
        if self.past is not None:
            k = torch.cat([self.past[layer][0], k], dim=2)
            v = torch.cat([self.past[layer][1], v], dim=2)
        self.present[layer] = (k, v)
        return k, v


def cache_shape(model: nn.Module) -> tuple[int, int, int]:
    """(layers, heads, head size) of the decoder's self-attention cache."""
    kv = model.decoder.new_cache(1, 1).kv  # (L, 2, B, H, max_length, D)
    return kv.shape[0], kv.shape[3], kv.shape[5]


class _Encoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        out = self.model.encoder(input_ids, attention_mask=attention_mask)
        return self.model.project(out.last_hidden_state)  # (B, S, C)


class _CrossKV(nn.Module):
    """Runs one decoder step only for the cross-attention projections it stores in the cache; the
    exporter drops the rest of the step, whose outputs the graph does not return."""

    def __init__(self, model: nn.Module, layers: int) -> None:
        super().__init__()
        self.decoder, self.layers = model.decoder, layers

    def forward(self, encoder_hidden_states: Tensor) -> tuple[Tensor, ...]:
        B, S = encoder_hidden_states.shape[:2]
        cache = _ExportCache(None, [None] * self.layers, 0)
        tokens = torch.zeros((B, 1), dtype=torch.long)
        mask = torch.ones((B, S), dtype=torch.long)
        self.decoder(
            tokens,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=mask,
            cache=cache,
            last_only=True,
        )
        return tuple(t for kv in cache.cross for t in kv)


class _Step(nn.Module):
    def __init__(self, model: nn.Module, layers: int, width: int) -> None:
        super().__init__()
        self.decoder, self.layers, self.width = model.decoder, layers, width

    def forward(
        self, input_ids: Tensor, beam_index: Tensor, encoder_attention_mask: Tensor, *kv: Tensor
    ) -> tuple[Tensor, ...]:
        L = self.layers
        cross = [(kv[2 * i], kv[2 * i + 1]) for i in range(L)]
        past = [  # the rows each beam continues
            (
                kv[2 * L + 2 * i].index_select(0, beam_index),
                kv[2 * L + 2 * i + 1].index_select(0, beam_index),
            )
            for i in range(L)
        ]
        cache = _ExportCache(past, cross, past[0][0].shape[2])
        B = encoder_attention_mask.shape[0]
        enc = torch.zeros((B, 1, self.width))  # unread: the cache holds the cross keys/values
        out = self.decoder(
            input_ids,
            encoder_hidden_states=enc,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            last_only=True,
        )
        present = tuple(t for kv in cache.present for t in kv)
        logits = out.logits.squeeze(1)  # (N, V): one position, no copy
        # log-probabilities for beam search: onnxruntime's vectorised log-softmax, not numpy's
        return (logits, torch.log_softmax(logits, dim=-1), *present)


def _graph_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    p: float,
    causal: bool,
    scale: float,
    cross: bool = False,
) -> Tensor:
    """Attention (N, H, T, D) as the graphs trace it: explicit products that onnxruntime fuses
    with the key transpose. k/v (B, H, S, D) may hold one row per input for N = B * beams query
    rows (an input's beams adjacent); ``mask`` is additive, (B, 1, 1 or T, S)."""
    if causal:  # a decoder step attends from its newest position: never SDPA's top-left causal
        raise ValueError("The export traces one decoder position at a time.")
    N, H, T, D = q.shape
    B = k.shape[0]
    q = (q * scale).reshape(B, -1, H, T, D).transpose(1, 2).reshape(B, H, -1, D)  # (B, H, K*T, D)
    scores = torch.matmul(q, k.transpose(-1, -2))  # (B, H, K*T, S)
    if mask is not None:
        scores = scores + mask
    out = torch.matmul(torch.softmax(scores, dim=-1), v)  # (B, H, K*T, D)
    return out.reshape(B, H, -1, T, D).transpose(1, 2).reshape(N, H, T, D)


@contextlib.contextmanager
def _plain_products(model: nn.Module) -> Iterator[None]:
    """Export the plain ``F.linear`` path: with autograd on, the models' linear layers and
    self-attention take neither oneDNN kernels nor decode-time weight fusion; attention is
    :func:`_graph_attention`."""
    noisy = logging.getLogger("torch.onnx")
    level = noisy.level
    noisy.setLevel(logging.ERROR)  # "torchvision is not installed" and other exporter chatter
    attention, recording.attention = recording.attention, _graph_attention
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        recording.attention = attention
        noisy.setLevel(level)


def _export(module: nn.Module, args: tuple, path: Path, names: dict[str, Any]) -> None:
    """``torch.onnx.export`` of ``module`` on example ``args`` to ``path`` (one file)."""
    try:
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names["inputs"],
            output_names=names["outputs"],
            dynamic_shapes=names["dynamic"],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    except Exception as err:  # the exporter's errors are many and long: say it in one line
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise ValueError(
            f"The ONNX exporter could not trace {path.stem} of this model ({type(err).__name__}: "
            f"{first}); export the fp32 model of a family warmstart.torch supports, unmodified."
        ) from err


def export_onnx(
    model: nn.Module,
    output: str | os.PathLike,
    *,
    quantize: str | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Export ``model`` to ``output`` as the three ONNX graphs :mod:`warmstart.onnx` runs.

    Args:
        model: an ``EncoderDecoderModel`` (fp32, not quantised in PyTorch).
        output: the folder to write (created; files of an earlier export are replaced).
        quantize: ``"int8"``: matrix weights in int8 (onnxruntime's dynamic quantisation), else
            fp32.
        source: a folder whose tokenizer files are copied beside the graphs.

    Returns:
        The output folder.
    """
    for package in ("onnx", "onnxscript", *(("onnxruntime",) if quantize else ())):
        if importlib.util.find_spec(package) is None:
            raise ImportError(
                f'Exporting to ONNX needs {package}; pip install "warmstart[onnx-export]".'
            )
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize={quantize!r} is not supported; pass None or 'int8'.")
    if getattr(model, "quantized", None) is not None:
        raise ValueError(
            "Export the fp32 model, not one quantised in PyTorch; pass quantize='int8' to the "
            "export instead."
        )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    layers, heads, head_dim = cache_shape(model)
    width = heads * head_dim
    dec_width = model.config.decoder.hidden_size
    with _plain_products(model):
        _write_graphs(model, out, layers, heads, head_dim, dec_width)
    for name in GRAPHS:
        _store_transposed_weights(out / name)
    if quantize == "int8":
        _quantize(out)
    manifest = {
        "format": "warmstart-onnx",
        "version": EXPORT_VERSION,
        "graphs": list(GRAPHS),
        "layers": layers,
        "heads": heads,
        "head_dim": head_dim,
        "width": width,
        "vocab_size": model.config.decoder.vocab_size,
        "max_source_positions": _positions(model.config.encoder),
        "max_target_positions": _positions(model.config.decoder),
        "quantize": quantize,
        "torch": torch.__version__,
    }
    model.write_configs(out)  # config.json and generation_config.json, as save_pretrained
    if source is not None:
        _copy_tokenizer(Path(source), out)
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return out


def _positions(config: Any) -> int | None:
    """The positions a side's learned embeddings cover (None: unbounded)."""
    n = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if n is not None and config.model_type in ("roberta", "xlm-roberta", "camembert"):
        n -= (config.pad_token_id or 0) + 1
    return n


def _write_graphs(
    model: nn.Module, out: Path, layers: int, heads: int, head_dim: int, width: int
) -> None:
    from torch.export import Dim

    B, S, P = 2, 5, 3
    batch, src, past = Dim("batch"), Dim("source"), Dim("past")
    rows, past_rows = Dim("rows"), Dim("past_rows")  # the step's N = B * beams, and the past's
    ids = torch.full((B, S), 5, dtype=torch.long)
    mask = torch.ones((B, S), dtype=torch.long)
    _export(
        _Encoder(model),
        (ids, mask),
        out / "encoder.onnx",
        dict(
            inputs=["input_ids", "attention_mask"],
            outputs=["encoder_hidden_states"],
            dynamic={"input_ids": {0: batch, 1: src}, "attention_mask": {0: batch, 1: src}},
        ),
    )
    with torch.no_grad():
        enc = _Encoder(model)(ids, mask)
    kv_names = [f"{kind}.{i}" for i in range(layers) for kind in ("key", "value")]
    _export(
        _CrossKV(model, layers),
        (enc.detach(),),
        out / "cross_kv.onnx",
        dict(
            inputs=["encoder_hidden_states"],
            outputs=[f"cross_{n}" for n in kv_names],
            dynamic={"encoder_hidden_states": {0: batch, 1: src}},
        ),
    )
    N = 3 * B  # rows: three beams per input, continuing four rows of the past
    cross = [torch.randn(B, heads, S, head_dim) for _ in range(2 * layers)]
    pasts = [torch.randn(N - 2, heads, P, head_dim) for _ in range(2 * layers)]
    step_ids = torch.full((N, 1), 5, dtype=torch.long)
    beam_index = torch.tensor([0, 0, 1, 2, 3, 3])
    dynamic: dict[str, Any] = {
        "input_ids": {0: rows},
        "beam_index": {0: rows},
        "encoder_attention_mask": {0: batch, 1: src},
    }
    kv_dynamic = [{0: batch, 2: src}] * (2 * layers) + [{0: past_rows, 2: past}] * (2 * layers)
    _export(
        _Step(model, layers, width),
        (step_ids, beam_index, mask, *cross, *pasts),
        out / "decoder_step.onnx",
        dict(
            inputs=[
                "input_ids",
                "beam_index",
                "encoder_attention_mask",
                *(f"cross_{n}" for n in kv_names),
                *(f"past_{n}" for n in kv_names),
            ],
            outputs=["logits", "log_probs", *(f"present_{n}" for n in kv_names)],
            dynamic=(*dynamic.values(), tuple(kv_dynamic)),
        ),
    )


def _store_transposed_weights(path: Path) -> None:
    """Replace each ``Transpose`` of a stored weight (the tied LM head: ``x @ E^T``) by the weight
    stored transposed, in place: the product then reads a plain matrix, which the int8 export
    quantises like every other."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    folded = []
    for node in graph.node:
        if node.op_type == "Transpose" and node.input[0] in weights:
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            array = numpy_helper.to_array(weights[node.input[0]]).transpose(perm)
            graph.initializer.append(numpy_helper.from_array(array.copy(), node.output[0]))
            folded.append(node)
    if not folded:
        return
    for node in folded:
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for w in [w for w in graph.initializer if w.name not in used]:
        graph.initializer.remove(w)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def _quantize(out: Path) -> None:
    """Store every graph's matrix weights in int8, in place: onnxruntime's dynamic quantisation
    (weights int8 with one scale per output column, activations quantised per product as they
    come), the counterpart of the PyTorch side's int8 products. Measured on an AVX2-only EPYC
    (one decoder step of the MiniLM bert2bert, 2 threads): 2.8 ms at one row against 2.0 for the
    weight-only ``MatMulNBits``, but 2.6 against 4.6 at four rows and 38 against 96 at 128 rows
    (fp32: 67), where beam search and batches run."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    noisy = logging.getLogger()
    level = noisy.level
    noisy.setLevel(logging.ERROR)  # the quantiser's advice to pre-process the model
    try:
        for name in GRAPHS:
            path = out / name
            tmp = out / (name + ".int8")
            quantize_dynamic(
                path,
                tmp,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
            )
            os.replace(tmp, path)
    finally:
        noisy.setLevel(level)


def _copy_tokenizer(source: Path, out: Path) -> None:
    for name in TOKENIZER_FILES:
        if (source / name).is_file() and source.resolve() != out.resolve():
            shutil.copyfile(source / name, out / name)


__all__ = ["EXPORT_VERSION", "GRAPHS", "MANIFEST", "export_onnx"]
