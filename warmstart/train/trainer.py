"""Trainer: fine-tune an EncoderDecoderModel on source/target pairs (Rothe et al. 2020's recipe).

One optimiser step sums the cross-entropy of every target token of ``grad_accum`` micro-batches on
every process and divides by the step's total number of target tokens, which each process knows from
the shared batch plan. The gradient is therefore the same whether a global batch is split across
micro-batches, processes, or neither. Everything that decides the next step (weights, optimiser,
schedule, random generators, data position) is in each checkpoint, so a resumed run reaches the same
weights as one that never stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..hub import atomic_folder
from ..tokenizer import AutoTokenizer
from ..torch.encoder_decoder import EncoderDecoderModel
from . import checkpoint as ckpt
from . import distributed, finite
from . import output as out_dir
from .config import TrainConfig
from .data import Example, collate, micro_batches, plan_batches, read_pairs, tokenize_pairs
from .metrics import MetricsLog, plot_metrics
from .optim import build_optimizer, build_scheduler, clip_gradients
from .predict import evaluate
from .progress import Progress
from .tokens import configure_special_tokens

logger = logging.getLogger("warmstart")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def shares_encoder_weights(model: nn.Module) -> bool:
    """Whether any encoder parameter is also a decoder parameter."""
    encoder = {id(p) for p in model.encoder.parameters()}
    return any(id(p) in encoder for p in model.decoder.parameters())


class Trainer:
    """Fine-tunes a model as a :class:`TrainConfig` describes; ``train()`` runs it.

    Args:
        config: the run's settings.
        model: a model to train instead of the one ``config`` names (e.g. a randomly initialised
            one); resuming replaces its weights with the checkpoint's.
        tokenizer: its tokenizer (default: loaded from ``config.tokenizer``, the encoder or the model).
    """

    def __init__(
        self, config: TrainConfig, model: nn.Module | None = None, tokenizer: Any = None
    ) -> None:
        if model is None and config.model is None and config.encoder is None:
            raise ValueError("Pass --encoder (and --decoder), or --model to continue a saved one.")
        self.config = config
        self.output = Path(config.output_dir)
        self.dist = distributed.setup(config.device)
        self._model, self.tokenizer = model, tokenizer
        self.best: dict[str, Any] | None = None
        self.last_eval: dict[str, float] | None = None
        self.last_loss: float | None = None  # the last logged training loss
        self.summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up
    def _load_tokenizer(self) -> Any:
        c = self.config
        name = c.tokenizer or c.model or c.encoder
        if name is None:
            raise ValueError("Pass a tokenizer (or --tokenizer) with a model built in code.")
        return AutoTokenizer.from_pretrained(name)

    def _build_model(self, resume_from: Path | None) -> nn.Module:
        c = self.config
        if resume_from is not None:
            model = EncoderDecoderModel.from_pretrained(resume_from)
        elif self._model is not None:
            model = self._model
        elif c.model is not None:
            model = EncoderDecoderModel.from_pretrained(c.model)
        else:
            extra = {"tie_encoder_decoder": True} if c.tie_encoder_decoder else {}
            model = EncoderDecoderModel.from_encoder_decoder_pretrained(
                c.encoder, c.decoder or c.encoder, **extra
            )
        if c.tie_encoder_decoder and not shares_encoder_weights(model):
            raise NotImplementedError(
                "--tie-encoder-decoder: this EncoderDecoderModel does not tie the encoder's weights "
                "to the decoder's yet (tie_encoder_decoder=True left them separate). Train without it."
            )
        configure_special_tokens(model, self.tokenizer)
        pooler = getattr(model.encoder, "pooler", None)
        if pooler is not None:  # never reaches the loss: freezing it keeps DDP's reducer happy
            pooler.requires_grad_(False)
        if c.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        return model.to(self.dist.device).train()

    def _read_data(self) -> None:
        """Read the data files first: a bad one is told before the model loads (seconds)."""
        c = self.config
        self._pairs = {"train": read_pairs(c.train_file, c.source_field, c.target_field)}
        if c.eval_file:
            pairs = read_pairs(c.eval_file, c.source_field, c.target_field)
            self._pairs["eval"] = pairs[: c.max_eval_samples]

    def _load_data(self, path: str, split: str) -> tuple[list[Example], list[str]]:
        c = self.config
        pairs = self._pairs[split]
        examples = tokenize_pairs(
            pairs,
            self.tokenizer,
            c.max_source_length,
            c.max_target_length,
            self.model_config.eos_token_id,
            name=Path(path).name,
        )
        return examples, [t for _, t in pairs]

    def _claim_output(self) -> None:
        """Refuse (on every process) an output folder holding another run, unless resuming or
        told to overwrite it; clear what a killed run left half-written."""
        c, refusal = self.config, None
        if self.dist.is_main:
            try:
                out_dir.claim(self.output, c.resume, c.overwrite_output_dir)
            except out_dir.OutputError as err:
                refusal = str(err)
        refusal = distributed.broadcast_object(self.dist, refusal)
        if refusal is not None:
            raise out_dir.OutputError(refusal)

    def _find_resume(self) -> tuple[Path | None, dict[str, Any] | None]:
        """The last good checkpoint; with none, an empty folder starts from scratch and a folder
        holding a run (finished, or killed before its first checkpoint) is refused, never cleared."""
        found: tuple[Path | None, dict[str, Any] | None] = (None, None)
        refusal = None
        if self.config.resume and self.dist.is_main:
            found = next(ckpt.good_checkpoints(self.output), (None, None))
            written_by = (found[1] or {}).get("framework", "torch")
            if written_by != "torch":
                refusal = (
                    f"--resume: {found[0]} was written by --framework {written_by}; resume it "
                    f"with --framework {written_by}."
                )
            elif found[0] is None:
                refusal = out_dir.nothing_to_resume(self.output)
                if refusal is None:
                    logger.warning(
                        "--resume: no checkpoint in %s (no run there yet); starting from scratch.",
                        self.output,
                    )
        found, refusal = distributed.broadcast_object(self.dist, (found, refusal))
        if refusal is not None:
            raise out_dir.OutputError(refusal)
        return found

    # ------------------------------------------------------------------ the run
    def train(self) -> dict[str, float]:
        """Run training to the last step, evaluating and checkpointing on the way.

        Returns:
            The final evaluation metrics (empty without an evaluation file).
        """
        c = self.config
        started = time.perf_counter()
        self._read_data()
        self._claim_output()
        seed_everything(c.seed)
        self.tokenizer = self.tokenizer or self._load_tokenizer()
        resume_dir, state = self._find_resume()
        model = self._build_model(resume_dir)
        self.model, self.model_config = model, model.config
        if self.dist.rank:
            seed_everything(c.seed + self.dist.rank)  # each process its own dropout
        self.train_set, _ = self._load_data(c.train_file, "train")
        self.eval_set = self._load_data(c.eval_file, "eval") if c.eval_file else None
        self._set_up_steps()
        self.new_params = state["new_params"] if state else getattr(model, "newly_initialized", [])
        self.optimizer = build_optimizer(model, c.lr, c.weight_decay, c.new_lr, self.new_params)
        self.scheduler = build_scheduler(self.optimizer, c.warmup_steps, self.total_steps)
        position = self._restore(resume_dir, state) if resume_dir else (0, 0, 0, None)
        self.wrapped = self._wrap(model)
        self.log = MetricsLog(self.output, tensorboard=True) if self.dist.is_main else None
        if self.log is not None and resume_dir is not None:
            self.log.truncate_after(position[0])
        self.first_step = position[0]
        try:
            self._loop(*position)
            return self._finish(time.perf_counter() - started)
        finally:
            if self.log is not None:
                self.log.close()
            distributed.barrier(self.dist)
            distributed.teardown(self.dist)

    def _set_up_steps(self) -> None:
        c = self.config
        self.sizes = [e.size for e in self.train_set]
        self.steps_per_epoch = len(self._plan(0))
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{c.train_file}: fewer examples than one step's micro-batches on all processes."
            )
        self.total_steps = c.max_steps or c.epochs * self.steps_per_epoch

    def _plan(self, epoch: int) -> list[list[int]]:
        c, world = self.config, self.dist.world
        size = c.batch_size * c.grad_accum * world
        return plan_batches(self.sizes, size, c.seed, epoch, c.grad_accum * world)

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return model
        ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _restore(self, path: Path, state: dict[str, Any]) -> tuple[int, int, int, list | None]:
        """Load optimiser, schedule and generators; return (step, epoch, next batch, batch plan)."""
        training = ckpt.load_training_state(path, self.dist.device)
        self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        rngs = training["rng"]
        if len(rngs) == self.dist.world:
            ckpt.set_rng_state(rngs[self.dist.rank])
        else:
            logger.warning("Resuming with %d processes instead of %d.", self.dist.world, len(rngs))
        self.best = state.get("best")
        if self.dist.is_main:
            logger.warning("Resuming from %s (step %d).", path, state["step"])
        return state["step"], state["epoch"], state["next_batch"], state.get("plan")

    # ------------------------------------------------------------------ the loop
    def _loop(self, step: int, epoch: int, next_batch: int, plan: list | None) -> None:
        c = self.config
        bar = Progress(self.total_steps, step, c.progress, c.log_every, self.dist.is_main)
        self._step_number = step
        window: list[tuple[float, int]] = []
        started = time.perf_counter()
        while step < self.total_steps:
            plan = plan if plan is not None else self._plan(epoch)
            for index in range(next_batch, len(plan)):
                loss, tokens = self._step(plan[index])
                step += 1
                window.append((loss, tokens))
                rate = sum(t for _, t in window) / max(1e-9, time.perf_counter() - started)
                lr = self.scheduler.get_last_lr()[0]
                bar.update(step, loss, lr, rate)
                if step % c.log_every == 0 or step == self.total_steps:
                    self._log_train(step, epoch, window, rate)
                    window, started = [], time.perf_counter()
                done = index + 1 >= len(plan)
                self._after_step(
                    step, *((epoch + 1, 0, None) if done else (epoch, index + 1, plan))
                )
                if step >= self.total_steps:
                    break
            epoch, next_batch, plan = epoch + 1, 0, None
        bar.close()

    def _step(self, batch: list[int]) -> tuple[float, int]:
        """One optimiser step over a step's batch; returns (mean token loss, tokens seen)."""
        c, d = self.config, self.dist
        self.wrapped.train()
        total = sum(len(self.train_set[i].labels) for i in batch)
        micros = micro_batches(batch, c.grad_accum, d.rank, d.world)
        loss_sum, seen = 0.0, 0
        for n, rows in enumerate(micros):
            inputs = collate([self.train_set[i] for i in rows], self._pad)
            inputs = {k: v.to(d.device) for k, v in inputs.items()}
            targets = int((inputs["labels"] != -100).sum())
            seen += int(inputs["attention_mask"].sum()) + targets
            last = n == len(micros) - 1
            sync = contextlib.nullcontext() if last or not d.enabled else self.wrapped.no_sync()
            with sync:
                with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=c.bf16):
                    mean = self.wrapped(**inputs, loss_only=True).loss
                token_sum = mean * targets  # DDP averages gradients over processes: undo that
                (token_sum * d.world / total).backward()
            loss_sum += float(token_sum.detach())
        params = [p for p in self.model.parameters() if p.grad is not None]
        limit = c.max_grad_norm if c.max_grad_norm > 0 else float("inf")  # inf: the norm alone
        norm = clip_gradients(self.optimizer, params, limit)
        loss = distributed.all_sum(d, loss_sum) / total
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            lr = self.scheduler.get_last_lr()[0]
            finite.check_step(self._step_number + 1, loss, norm, lr, self.output)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._step_number += 1
        return loss, int(distributed.all_sum(d, seen))

    def _check_weights(self, step: int) -> None:
        """Stop before saving weights that are not finite (never a checkpoint or final model)."""
        finite_ = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        finite.check_weights(step, finite_, self.output)

    @property
    def _pad(self) -> int:
        return self.model_config.pad_token_id

    def _log_train(self, step: int, epoch: int, window: list, rate: float) -> None:
        if self.log is None or not window:
            return
        self.last_loss = sum(loss for loss, _ in window) / len(window)
        self.log.write(
            {
                "split": "train",
                "step": step,
                "epoch": epoch,
                "loss": self.last_loss,
                "lr": self.scheduler.get_last_lr()[0],
                "tokens_per_s": rate,
            }
        )

    def _after_step(self, step: int, epoch: int, next_batch: int, plan: list | None) -> None:
        c = self.config
        final = step >= self.total_steps
        if self.eval_set is not None and (final or (c.eval_every and step % c.eval_every == 0)):
            self._evaluate(step)
        if c.save_every and (final or step % c.save_every == 0):
            self._save(step, {"epoch": epoch, "next_batch": next_batch, "plan": plan})

    # ------------------------------------------------------------------ evaluation, saving
    def _evaluate(self, step: int) -> None:
        """Score the eval set on rank 0 without touching the training random state."""
        self.last_eval = None
        if self.dist.is_main:
            examples, references = self.eval_set
            cuda = [self.dist.device.index or 0] if self.dist.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                metrics, _ = evaluate(
                    self.model,
                    self.tokenizer,
                    examples,
                    references,
                    batch_size=self.config.eval_batch_size or self.config.batch_size,
                    **self.config.generation_kwargs(),
                )
            self.model.train()
            self.last_eval = {**metrics, "step": step}
            self.log.write({"split": "eval", "step": step, **metrics})
            logger.info("step %d: %s", step, _format(metrics))
        distributed.barrier(self.dist)

    def _save(self, step: int, position: dict[str, Any]) -> None:
        c = self.config
        self._check_weights(step)
        rngs = distributed.gather_objects(self.dist, ckpt.rng_state())
        if self.dist.is_main:
            fresh = self.last_eval if self.last_eval and self.last_eval["step"] == step else None
            if fresh is not None and c.best_metric in fresh:
                value = fresh[c.best_metric]
                if ckpt.is_better(c.best_metric, value, self.best):
                    self.best = {"metric": c.best_metric, "value": value, "step": step}
            state = {
                **position,
                "best": self.best,
                "config": c.to_dict(),
                "metrics": fresh,
                "new_params": self.new_params,
            }
            with out_dir.full_disk_in_one_line(self.output / f"{ckpt.PREFIX}{step}", self.model, 3):
                ckpt.save_checkpoint(
                    self.output,
                    step,
                    self.model,
                    self.tokenizer,
                    self.optimizer,
                    self.scheduler,
                    rngs,
                    state,
                )
            ckpt.rotate(self.output, c.keep_last, self.best["step"] if self.best else None)
        distributed.barrier(self.dist)

    def _finish(self, seconds: float) -> dict[str, float]:
        """Save the final model and tokenizer to OUTPUT/model and plot the curves (rank 0)."""
        metrics = dict(self.last_eval or {})
        metrics.pop("step", None)
        self._check_weights(self.total_steps)
        if self.dist.is_main:
            final = self.output / "model"
            with out_dir.full_disk_in_one_line(final, self.model, 1):
                with atomic_folder(final, replaces=ckpt.listing(final)) as tmp:
                    self.model.save_pretrained(tmp)
                    self.tokenizer.save_pretrained(tmp)
                    ckpt.umask_modes(tmp)
                plot_metrics(self.log.path, self.output / "training.png")
            self.summary = {
                "output": self.output,
                "steps": self.total_steps,
                "resumed_at": self.first_step,
                "seconds": seconds,
                "train_loss": self.last_loss,
                "eval": metrics,
            }
        return metrics


def _format(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
