"""``ORTEncoderDecoderModel``: an exported encoder-decoder (three ONNX graphs) run by onnxruntime,
decoded by the core's numpy search (:mod:`warmstart.generation.numpy_search`).

The encoder runs once, the cross-attention keys/values are projected once per input (and shared by
its beams), then each decoder step feeds the newest token with the self-attention cache and gets
the cache back one position longer. Beam search's reorder of the cache rows is an input of the
step, which gathers them inside the graph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..config import CONFIG_NAME, EncoderDecoderConfig
from ..generation import GENERATION_CONFIG_NAME, GenerationConfig, GenerationSettings, numpy_search
from ..generation.settings import apply_options, cap_length, start_token

EXPORT_VERSION = 2
"""The export layout this runtime reads (``onnx_export.json``'s ``version``)."""
MANIFEST = "onnx_export.json"
GRAPHS = ("encoder.onnx", "cross_kv.onnx", "decoder_step.onnx")
_REEXPORT = "re-export it with `warmstart export --model MODEL_DIR --output DIR`"


def is_exported(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds an ONNX export (its ``onnx_export.json``)."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The export's manifest, checked: this runtime's version, every graph and config present.

    Raises:
        FileNotFoundError: the folder is no export, or a file is missing.
        ValueError: an export of another version.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} holds no ONNX export ({MANIFEST} is missing); {_REEXPORT}."
        )
    manifest = json.loads(path.read_text())
    version = manifest.get("version")
    if manifest.get("format") != "warmstart-onnx" or version != EXPORT_VERSION:
        raise ValueError(
            f"{folder} is an ONNX export of version {version!r}, but this warmstart reads version "
            f"{EXPORT_VERSION}; {_REEXPORT}."
        )
    for name in (*GRAPHS, CONFIG_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} is missing from the ONNX export; {_REEXPORT}."
            )
    return manifest


def _session(path: Path, threads: int | None, spin: bool = True) -> ort.InferenceSession:
    """An onnxruntime CPU session. ``spin=False``: its worker threads sleep as soon as a run ends
    (for the graphs that run once per input: their spinning threads would compete with the
    decoder step's for the cores)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _State:
    """What the search carries between steps: the self-attention cache per layer, the rows of it
    the next step continues (beam search's reorder, which the step graph applies), the
    cross-attention keys/values and the encoder mask (one row per input still decoded)."""

    def __init__(self, cross: list[np.ndarray], past: list[np.ndarray], mask: np.ndarray) -> None:
        self.cross, self.past, self.mask = cross, past, mask
        self.rows = len(mask)  # the rows the next step feeds, an input's rows adjacent
        self.index: np.ndarray | None = None  # None: every row continues itself

    @staticmethod
    def reorder(state: _State, index: np.ndarray) -> _State:
        """Select rows for the next step: expand inputs to beams, follow beams within an input,
        drop the inputs whose search ended (then their cross keys/values go too)."""
        index = np.asarray(index, dtype=np.int64)
        inputs = np.unique(index // (state.rows // len(state.mask)))
        if len(inputs) < len(state.mask):
            state.cross = [c[inputs] for c in state.cross]
            state.mask = state.mask[inputs]
        state.index = index if state.index is None else state.index[index]
        state.rows = len(index)
        return state

    def beam_index(self) -> np.ndarray:
        """The rows of the past the next step continues, then every row continues itself."""
        index = self.index if self.index is not None else np.arange(len(self.past[0]))
        self.index = None
        return index


class ORTEncoderDecoderModel(GenerationSettings):
    """An exported ``EncoderDecoderModel`` on onnxruntime; ``generate`` returns numpy ids."""

    main_input_name = "input_ids"

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        self.folder = folder
        self.manifest = read_manifest(folder)
        self.config = EncoderDecoderConfig.from_json_file(folder / CONFIG_NAME)
        # the decoder step's threads spin between steps, the once-per-input graphs' do not: on a
        # 2-core CPU this halves a one-row step (2.2 against 4.5 ms for the int8 MiniLM)
        self.encoder, self.cross_kv, self.step = (
            _session(folder / name, threads, spin=name == "decoder_step.onnx") for name in GRAPHS
        )
        self._cross_names = [o.name for o in self.cross_kv.get_outputs()]
        self._past_names = [i.name for i in self.step.get_inputs() if i.name.startswith("past_")]
        self._adopt_generation_config(
            GenerationConfig.from_pretrained(folder)
            if (folder / GENERATION_CONFIG_NAME).is_file()
            else GenerationConfig.from_model_config(self.config)
        )

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, threads: int | None = None
    ) -> ORTEncoderDecoderModel:
        """Load an export written by ``warmstart export`` / ``export_onnx``.

        Args:
            folder: the export folder.
            threads: onnxruntime's intra-op threads (default: its own choice).

        Raises:
            FileNotFoundError, ValueError: not an export, a file missing, another export version.
        """
        return cls(Path(folder), threads)

    @property
    def quantized(self) -> str | None:
        return self.manifest.get("quantize")

    def encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Encoder states (B, S, C) for ``input_ids`` (B, S)."""
        limit = self.manifest.get("max_source_positions")
        if limit is not None and input_ids.shape[1] > limit:
            raise ValueError(
                f"The input has {input_ids.shape[1]} tokens but this export's encoder allows at "
                f"most {limit}; truncate it, e.g. tokenizer(..., truncation=True, "
                f"max_length={limit})."
            )
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return self.encoder.run(None, feeds)[0]

    def generate(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        generation_config: GenerationConfig | None = None,
        *,
        decoder_input_ids: Any = None,
        generator: np.random.Generator | None = None,
        streamer: Callable[[np.ndarray | None], None] | None = None,
        token_type_ids: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Generate target ids as the PyTorch side's ``generate`` does (greedy, beam search,
        sampling and their controls: any GenerationConfig field as a keyword).

        Args:
            input_ids: (B, S) source ids (numpy, or anything ``np.asarray`` takes).
            attention_mask: (B, S); inferred from ``pad_token_id`` when omitted.
            generation_config: base settings (default: the export's).
            decoder_input_ids: (B, P) decoder prompt (default: the start token).
            generator: ``numpy.random.Generator`` for sampling.
            streamer: greedy search and sampling: called with each step's tokens (N,), then None.
            token_type_ids: accepted and ignored (the export embeds segment 0).

        Returns:
            (B * num_return_sequences, L) int64 ids starting with the start token.
        """
        run = self._prepare(input_ids, attention_mask, generation_config, decoder_input_ids, kwargs)
        step, reorder, state, start, config, ids = run
        return numpy_search.generate(
            step,
            reorder,
            state,
            start,
            config,
            encoder_input_ids=ids,
            rng=generator,
            streamer=streamer,
        )

    def stream(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        generation_config: GenerationConfig | None = None,
        *,
        decoder_input_ids: Any = None,
        generator: np.random.Generator | None = None,
        **kwargs: Any,
    ) -> Generator[np.ndarray, None, np.ndarray]:
        """:meth:`generate` (greedy or sampling) as an iterator over each step's tokens (N,)."""
        run = self._prepare(input_ids, attention_mask, generation_config, decoder_input_ids, kwargs)
        step, reorder, state, start, config, ids = run
        return numpy_search.stream(
            step, reorder, state, start, config, encoder_input_ids=ids, rng=generator
        )

    def _prepare(self, input_ids, attention_mask, generation_config, decoder_input_ids, kwargs):
        if input_ids is None:
            raise ValueError("Pass input_ids, a (batch, length) array of token ids, to generate.")
        ids = np.asarray(input_ids, dtype=np.int64)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, length) token ids, not shape {ids.shape}.")
        config = apply_options(self._generation_config(generation_config), kwargs)
        if attention_mask is None:
            pad = config.pad_token_id
            mask = (ids != pad) if pad is not None else np.ones_like(ids)
        else:
            mask = np.asarray(attention_mask)
        mask = mask.astype(np.int64)
        enc = self.encode(ids, mask)
        cross = self.cross_kv.run(None, {"encoder_hidden_states": enc})
        B, m = ids.shape[0], self.manifest
        if decoder_input_ids is None:
            start = np.full((B, 1), start_token(config), dtype=np.int64)
        else:
            start = np.asarray(decoder_input_ids, dtype=np.int64)
        cap_length(config, start.shape[1], m.get("max_target_positions"))
        empty = np.zeros((B, m["heads"], 0, m["head_dim"]), dtype=np.float32)
        state = _State(cross, [empty] * len(self._past_names), mask)
        return self._step_fn, _State.reorder, state, start, config, ids

    def _step_fn(self, tokens: np.ndarray, state: _State) -> tuple[numpy_search.Scores, _State]:
        """Feed tokens (N, t) one at a time after the cache; the last one's logits and
        log-probabilities (N, V)."""
        for t in range(tokens.shape[1]):
            feeds = {"input_ids": np.ascontiguousarray(tokens[:, t : t + 1])}
            feeds["beam_index"] = state.beam_index()
            feeds["encoder_attention_mask"] = state.mask
            feeds.update(zip(self._cross_names, state.cross))
            feeds.update(zip(self._past_names, state.past))
            logits, log_probs, *state.past = self.step.run(None, feeds)
        return numpy_search.Scores(logits, log_probs), state
