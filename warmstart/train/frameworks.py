"""``warmstart train --framework tf | flax``: the same data files, label layout, special tokens,
options, progress, metrics, evaluation and output folder as the PyTorch Trainer, with that
framework's step (:class:`warmstart.tf.train.Side`, :class:`warmstart.flax.train.Side`) inside the
shared loop of :mod:`warmstart.train.loop`.

Checkpoints (``--save-every``, ``--keep-last``, ``--best-metric``) and ``--resume`` work as the
PyTorch Trainer's (a Flax run resumes to the same weights; a TF run's dropout masks start afresh).
Options those loops do not have yet (gradient accumulation, bf16, gradient checkpointing,
``--device``, ``--tie-encoder-decoder``) are refused by name, never ignored.
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from .. import import_side
from ..tokenizer import AutoTokenizer
from . import loop
from .checkpoint import good_checkpoints
from .config import TrainConfig
from .data import read_pairs, tokenize_pairs
from .output import OutputError, claim, nothing_to_resume
from .tokens import configure_special_tokens

FRAMEWORKS = ("torch", "tf", "flax")

LACKING = ("grad_accum", "bf16", "gradient_checkpointing", "device", "tie_encoder_decoder")
"""The options of ``warmstart train`` that the TensorFlow and Flax loops do not have."""

_PREFIXES = {"tf": "TF", "flax": "Flax"}

logger = logging.getLogger("warmstart")

# TensorFlow's C++ start-up lines (oneDNN, XLA, absl) before it is first imported
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def unsupported(config: TrainConfig, framework: str) -> list[str]:
    """The options set to something other than their default that ``framework``'s loop lacks."""
    if framework == "torch":
        return []
    return [
        f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        for f in fields(TrainConfig)
        if f.name in LACKING and getattr(config, f.name) != f.default
    ]


def train_with(config: TrainConfig, framework: str) -> dict[str, Any]:
    """Fine-tune with the TensorFlow or the Flax side, writing the run's folder as the PyTorch
    Trainer does (``metrics.jsonl``, ``training.png``, ``tensorboard/``, ``model/``).

    Returns:
        The run's summary (:func:`warmstart.train.progress.summary_lines`), with ``losses``.

    Raises:
        ValueError: an option that framework's loop lacks, or no model to start from.
        ImportError: the framework is not installed (one line naming the extra).
    """
    refused = unsupported(config, framework)
    if refused:
        raise ValueError(
            f"--framework {framework} does not take {', '.join(refused)} yet (the PyTorch "
            "Trainer's alone); drop them, or train with --framework torch."
        )
    if not (config.encoder or config.model):
        raise ValueError(
            f"--framework {framework}: pass --encoder (and --decoder), or --model to continue a "
            "saved one."
        )
    if framework == "tf":
        for name, value in QUIET_TF.items():
            os.environ.setdefault(name, value)
    import_side(framework, f"--framework {framework}")
    pairs = read_pairs(config.train_file, config.source_field, config.target_field)
    eval_pairs = None
    if config.eval_file:
        eval_pairs = read_pairs(config.eval_file, config.source_field, config.target_field)
        eval_pairs = eval_pairs[: config.max_eval_samples]
    output = Path(config.output_dir)
    claim(output, resume=config.resume, overwrite=config.overwrite_output_dir)
    resume = _find_resume(output, framework) if config.resume else None
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.model or config.encoder)
    side_module = _side_module(framework)
    model = _load_model(side_module, framework, config, resume)
    configure_special_tokens(model, tokenizer)
    train_set = _tokenize(config, pairs, tokenizer, model, config.train_file)
    eval_set = None
    if eval_pairs is not None:
        examples = _tokenize(config, eval_pairs, tokenizer, model, config.eval_file)
        eval_set = (examples, [t for _, t in eval_pairs])
    side = _side(side_module, framework, model, config)
    extra: dict[str, Any] = {"framework": framework}
    if framework == "tf":  # the names --new-lr picks out (Flax finds them from the checkpoints)
        extra["new_params"] = list(getattr(model, "newly_initialized", []))
    summary = loop.run(
        side, tokenizer, config, train_set, eval_set, output, resume=resume, extra_state=extra
    )
    return {"framework": framework, **summary}


def _side_module(framework: str) -> Any:
    if framework == "tf":
        from ..tf import train as module
    else:
        from ..flax import train as module
    return module


def _side(side_module: Any, framework: str, model: Any, config: TrainConfig) -> Any:
    """The framework's step; with ``--new-lr``, the weights the warm start initialised apart."""
    separate = config.new_lr is not None and config.new_lr != config.lr and not config.model
    separate = separate and getattr(model, "newly_initialized", None) != []
    options = {"weight_decay": config.weight_decay, "max_grad_norm": config.max_grad_norm}
    if framework == "tf":
        return side_module.Side(model, **options, seed=config.seed, separate_new=separate)
    new = None
    if separate:
        new = side_module.warm_start_new_weights(
            model, config.encoder, config.decoder or config.encoder
        )
    return side_module.Side(model, **options, seed=config.seed, new=new)


def _find_resume(output: Path, framework: str) -> tuple[Path, dict[str, Any]] | None:
    """The last good checkpoint of ``output``; None for a folder without a run (starting from
    scratch loses nothing); a one-line refusal for a run that has none, or another framework's."""
    found = next(good_checkpoints(output), None)
    if found is None:
        refusal = nothing_to_resume(output)
        if refusal is not None:
            raise OutputError(refusal)
        logger.warning(
            "--resume: no checkpoint in %s (no run there yet); starting from scratch.", output
        )
        return None
    written_by = found[1].get("framework", "torch")
    if written_by != framework:
        raise ValueError(
            f"--resume: {found[0]} was written by --framework {written_by}; resume it with "
            f"--framework {written_by}."
        )
    return found


def _load_model(
    side_module: Any, framework: str, config: TrainConfig, resume: tuple | None = None
) -> Any:
    model_class = getattr(side_module, f"{_PREFIXES[framework]}EncoderDecoderModel")
    if framework == "tf":  # Keras draws the new weights of a warm start from its global seed
        import keras

        keras.utils.set_random_seed(config.seed)
    if resume is not None:
        model = model_class.from_pretrained(resume[0])
        if "new_params" in resume[1]:
            model.newly_initialized = resume[1]["new_params"]  # --new-lr's weights
        return model
    if config.model:
        return model_class.from_pretrained(config.model)
    return model_class.from_encoder_decoder_pretrained(
        config.encoder, config.decoder or config.encoder
    )


def _tokenize(config: TrainConfig, pairs, tokenizer: Any, model: Any, path: str) -> list:
    return tokenize_pairs(
        pairs,
        tokenizer,
        config.max_source_length,
        config.max_target_length,
        model.config.eos_token_id,
        name=Path(path).name,
    )
