"""``warmstart train --framework tf | flax``: the same data files, special tokens, output-folder rules
and model folder as the PyTorch Trainer, trained by that framework's own loop
(:func:`warmstart.tf.train.train`, :func:`warmstart.flax.train.train`).

Those loops are short: they take the training pairs, the steps, the learning rate, the batch size
and the seed. Every other option of ``warmstart train`` (evaluation, checkpoints, resume, ...) is the
PyTorch Trainer's alone; asked for with another framework it is refused by name, never ignored.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from .. import import_side
from ..tokenizer import AutoTokenizer
from .config import TrainConfig
from .data import read_pairs
from .output import claim
from .tokens import configure_special_tokens

FRAMEWORKS = ("torch", "tf", "flax")

SUPPORTED = {
    "tf": {"batch_size", "lr", "seed", "weight_decay"},
    "flax": {"batch_size", "lr", "seed", "max_source_length", "max_target_length", "log_every"},
}
"""The options each framework's loop takes, beyond the data, the models and the output."""

COMMON = {
    "encoder",
    "decoder",
    "tokenizer",
    "train_file",
    "output_dir",
    "overwrite_output_dir",
    "source_field",
    "target_field",
    "max_steps",
    "epochs",
    "progress",
}

_PREFIXES = {"tf": "TF", "flax": "Flax"}


def unsupported(config: TrainConfig, framework: str) -> list[str]:
    """The options set to something other than their default that ``framework``'s loop lacks."""
    keep = COMMON | SUPPORTED[framework]
    return [
        f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        for f in fields(TrainConfig)
        if f.name not in keep and getattr(config, f.name) != f.default
    ]


def train_with(config: TrainConfig, framework: str) -> dict[str, Any]:
    """Fine-tune with the TensorFlow or the Flax side, writing ``OUTPUT/model``.

    Returns:
        What the run did: its framework, steps, first and last loss and the model's folder.

    Raises:
        ValueError: an option that framework's loop lacks, or no ``--encoder``.
        ImportError: the framework is not installed (one line naming the extra).
    """
    refused = unsupported(config, framework)
    if refused:
        raise ValueError(
            f"--framework {framework} trains with a short loop that does not take "
            f"{', '.join(refused)}; drop them, or train with --framework torch."
        )
    if not config.encoder:
        raise ValueError(f"--framework {framework} warm-starts from --encoder (and --decoder).")
    side = import_side(framework, f"--framework {framework}")
    pairs = read_pairs(config.train_file, config.source_field, config.target_field)
    output = Path(config.output_dir)
    claim(output, resume=False, overwrite=config.overwrite_output_dir)
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.encoder)
    model_class = getattr(side, f"{_PREFIXES[framework]}EncoderDecoderModel")
    model = model_class.from_encoder_decoder_pretrained(
        config.encoder, config.decoder or config.encoder
    )
    configure_special_tokens(model, tokenizer)
    steps = config.max_steps or config.epochs * math.ceil(len(pairs) / config.batch_size)
    losses = _run(framework, config, model, tokenizer, pairs, steps)
    return {"framework": framework, "steps": steps, **losses, "model": str(output / "model")}


def _run(framework: str, c: TrainConfig, model: Any, tokenizer: Any, pairs, steps: int) -> dict:
    output = Path(c.output_dir)
    if framework == "tf":
        from ..tf.train import train

        return train(
            pairs, tokenizer, model, steps, c.lr, output / "model", c.batch_size,
            c.weight_decay, c.seed,
        )  # fmt: skip
    from ..flax.train import train

    losses = train(
        model, tokenizer, pairs, output, steps=steps, lr=c.lr, batch_size=c.batch_size,
        seed=c.seed, max_source_length=c.max_source_length,
        max_target_length=c.max_target_length, log_every=c.log_every,
    )  # fmt: skip
    return {"first_loss": losses[0], "last_loss": losses[-1]}
