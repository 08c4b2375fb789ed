"""Builders shared by the training and command-line tests: tiny data and tiny BERT checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from warmstart import BertConfig, BertModel
from warmstart.data import make_splits
from warmstart.torch.weights import save_weights

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_data(folder: Path, sizes: dict[str, int], seed: int = 3) -> list[str]:
    """Sentence-fusion splits as ``NAME.jsonl`` in ``folder``; returns their words (lower-cased)."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = make_splits(seed=seed, sizes=sizes)
    for name, rows in splits.items():
        write_jsonl(folder / f"{name}.jsonl", rows)
    text = " ".join(r[k] for rows in splits.values() for r in rows for k in ("source", "target"))
    return sorted(set(re.findall(r"\w+|[^\w\s]", text.lower())))


def tiny_bert(folder: Path, words: list[str], dropout: float) -> Path:
    """A randomly initialised 2-layer BERT with a word-level vocabulary, saved like a hub checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + words
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(1)
    config.save_pretrained(folder)
    save_weights(BertModel(config).state_dict(), folder / "model.safetensors")
    return folder


def train_args(bert: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """`warmstart train` arguments for a tiny run (extra ones last, so they win)."""
    return [
        "train",
        "--encoder",
        str(bert),
        "--decoder",
        str(bert),
        "--train",
        str(data / "train.jsonl"),
        "--output",
        str(out),
        "--batch-size",
        "4",
        "--lr",
        "3e-3",
        "--max-steps",
        "8",
        "--seed",
        "7",
        "--max-new-tokens",
        "40",  # the tiny BERT has 64 positions
        "--no-progress",
        *extra,
    ]
