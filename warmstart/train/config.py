"""TrainConfig: every setting of a fine-tuning run, with the help text the command line shows.

Each field's metadata carries its help text (and, where it differs from the field name, its flag), so
``warmstart train`` builds its options from this class instead of repeating them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def opt(default: Any, help: str, flag: str | None = None) -> Any:
    """A dataclass field with its command-line help (and flag name when not ``--field-name``)."""
    return field(default=default, metadata={"help": help, "flag": flag})


# The smallest value of each numeric setting: (bound, 0) means >= bound, (0, tiny) means > 0.
_POSITIVE = (0, 1e-300)
_FLOORS = {
    **dict.fromkeys(("batch_size", "grad_accum", "max_source_length", "max_target_length"), (1, 0)),
    **dict.fromkeys(("log_every", "max_eval_samples", "eval_batch_size"), (1, 0)),
    **dict.fromkeys(("num_beams", "max_new_tokens"), (1, 0)),
    **dict.fromkeys(("max_steps", "epochs", "warmup_steps", "eval_every", "save_every"), (0, 0)),
    **dict.fromkeys(("keep_last", "no_repeat_ngram_size", "weight_decay", "max_grad_norm"), (0, 0)),
    **dict.fromkeys(("lr", "new_lr", "repetition_penalty"), _POSITIVE),
}


@dataclass
class TrainConfig:
    """Settings of a fine-tuning run (the options of ``warmstart train``)."""

    # model
    encoder: str | None = opt(None, "encoder checkpoint: a folder or a Hugging Face repo id")
    decoder: str | None = opt(None, "decoder checkpoint (default: the encoder's)")
    model: str | None = opt(None, "continue from a saved encoder-decoder instead of two halves")
    tokenizer: str | None = opt(None, "tokenizer folder (default: the encoder's or --model's)")
    tie_encoder_decoder: bool = opt(False, "share the encoder's weights with the decoder")
    # data
    train_file: str = opt("", "training data (.jsonl, .csv or .tsv)", flag="--train")
    eval_file: str | None = opt(None, "evaluation data, scored by generation", flag="--eval")
    output_dir: str = opt(
        "",
        "folder of the run: checkpoint-N/, metrics.jsonl, training.png, tensorboard/, model/",
        "--output",
    )
    overwrite_output_dir: bool = opt(
        False, "delete the run already in --output (its checkpoints, metrics, plot and model)"
    )
    source_field: str = opt("source", "name of the source field or column")
    target_field: str = opt("target", "name of the target field or column")
    max_source_length: int = opt(128, "most source tokens (longer sources are truncated)")
    max_target_length: int = opt(64, "most target tokens, eos included (longer are truncated)")
    # optimisation
    max_steps: int = opt(0, "optimiser steps to run (0: --epochs decides)")
    epochs: int = opt(1, "passes over the training data when --max-steps is 0")
    batch_size: int = opt(8, "examples per process per micro-batch")
    grad_accum: int = opt(1, "micro-batches per optimiser step")
    lr: float = opt(5e-5, "peak learning rate of AdamW")
    new_lr: float | None = opt(
        None, "peak learning rate of weights the warm start initialised randomly (default: --lr)"
    )
    warmup_steps: int = opt(0, "steps of linear warm-up before the linear decay")
    weight_decay: float = opt(0.01, "AdamW weight decay (not on biases and LayerNorm weights)")
    max_grad_norm: float = opt(1.0, "clip the gradient norm to this (0: no clipping)")
    seed: int = opt(42, "random seed of initialisation, data order and dropout")
    bf16: bool = opt(False, "run forward passes under bfloat16 autocast")
    gradient_checkpointing: bool = opt(False, "recompute activations to save memory")
    device: str | None = opt(None, "cpu or cuda (default: cuda when available)")
    # evaluation, checkpoints, logging
    eval_every: int = opt(0, "evaluate every N steps (0: only at the end)")
    save_every: int = opt(0, "write a checkpoint every N steps and at the end (0: none)")
    keep_last: int = opt(2, "checkpoints to keep besides the best one")
    best_metric: str = opt("rougeL", "metric that picks the best checkpoint (eval_loss: lowest)")
    log_every: int = opt(10, "log the training loss every N steps")
    max_eval_samples: int | None = opt(None, "score only the first N evaluation examples")
    eval_batch_size: int | None = opt(None, "batch size of evaluation (default: --batch-size)")
    resume: bool = opt(False, "continue from the last good checkpoint in --output")
    progress: bool | None = opt(
        None,
        "--progress: a progress bar; --no-progress: nothing (default: a bar on a terminal, a "
        "line every --log-every steps otherwise)",
    )
    # generation during evaluation
    num_beams: int = opt(1, "beams of beam search (1: greedy)")
    max_new_tokens: int = opt(64, "most tokens to generate")
    no_repeat_ngram_size: int = opt(0, "forbid repeating n-grams of this size (0: off)")
    length_penalty: float = opt(1.0, "beam search length penalty")
    repetition_penalty: float = opt(1.0, "penalty for repeating tokens (1: off)")

    def __post_init__(self) -> None:
        if self.model is not None and (self.encoder or self.decoder):
            raise ValueError("Pass either --model or --encoder/--decoder, not both.")
        if not self.train_file or not self.output_dir:
            raise ValueError("Pass --train FILE and --output DIR.")
        if self.resume and self.overwrite_output_dir:
            raise ValueError(
                "Pass either --resume (continue the run in --output) or --overwrite-output-dir "
                "(delete it and start over), not both."
            )
        for f in fields(self):
            value, floor = getattr(self, f.name), _FLOORS.get(f.name)
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{flag} must be a finite number, not {value}.")
            if floor is not None and value is not None and not value >= floor[0] + floor[1]:
                low = f"at least {floor[0]}" if not floor[1] else f"more than {floor[0]}"
                raise ValueError(f"{flag} must be {low}, not {value}.")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("Pass --max-steps or --epochs (a positive number).")
        if self.max_target_length < 2:
            raise ValueError("--max-target-length must leave room for a token and eos (2 or more).")

    def generation_kwargs(self) -> dict[str, Any]:
        """The ``model.generate`` options of evaluation."""
        kwargs: dict[str, Any] = {
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
        }
        if self.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        if self.length_penalty != 1.0:
            kwargs["length_penalty"] = self.length_penalty
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
