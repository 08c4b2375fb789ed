"""Progress of a training run: a tqdm bar on a terminal, plain periodic lines elsewhere, and the
summary printed at the end (where the files are, and the final figures)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

logger = logging.getLogger("warmstart")


class Progress:
    """Shows a run's steps: loss, learning rate, tokens per second and the time left.

    Args:
        total: the run's last step.
        initial: the step it starts from (a resumed run's).
        mode: True for a bar, False for nothing, None for a bar on a terminal and a plain line
            every ``every`` steps otherwise (logs, CI, ``nohup``).
        every: steps between plain lines.
        enabled: False on every process but the first.
        stream: where the bar goes (default: stderr).
    """

    def __init__(
        self,
        total: int,
        initial: int,
        mode: bool | None,
        every: int,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        stream = stream or sys.stderr
        terminal = hasattr(stream, "isatty") and stream.isatty()
        use_bar = enabled and (mode is True or (mode is None and terminal))
        self.lines = enabled and mode is None and not use_bar
        self.total, self.initial, self.every = total, initial, max(1, every)
        self.started = time.perf_counter()
        self.bar = tqdm(
            total=total, initial=initial, desc="train", file=stream, disable=not use_bar
        )

    def update(self, step: int, loss: float, lr: float, tokens_per_s: float) -> None:
        """Record that ``step`` is done."""
        self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_s:.0f}")
        self.bar.update()
        if self.lines and (step % self.every == 0 or step == self.total):
            logger.info(
                "step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s, %s left",
                step,
                self.total,
                loss,
                lr,
                tokens_per_s,
                _clock(self.seconds_left(step)),
            )

    def seconds_left(self, step: int) -> float:
        done = step - self.initial
        elapsed = time.perf_counter() - self.started
        return elapsed / done * (self.total - step) if done > 0 else 0.0

    def close(self) -> None:
        self.bar.close()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What a finished run prints: its files, then its last training loss and evaluation."""
    out: Path = summary["output"]
    first, clock = summary.get("resumed_at") or 0, _clock(summary["seconds"])
    lines = [f"Finished {summary['steps']} steps in {clock}."]
    if first:  # the time is this session's: a resumed run's earlier steps are not in it
        lines = [f"Finished {summary['steps']} steps; resumed at step {first}, steps "
                 f"{first + 1}-{summary['steps']} took {clock}."]  # fmt: skip
    lines.append(f"  model:    {out / 'model'}")
    lines.append(f"  metrics:  {out / 'metrics.jsonl'} (TensorBoard: {out / 'tensorboard'})")
    lines.append(f"  plot:     {out / 'training.png'}")
    if summary.get("train_loss") is not None:
        lines.append(f"  final training loss: {summary['train_loss']:.4f}")
    evaluation = summary.get("eval") or {}
    if evaluation:
        figures = ", ".join(
            f"{k} {v:.4f}" if "loss" in k else f"{k} {v:.2f}" for k, v in evaluation.items()
        )
        lines.append(f"  evaluation: {figures}")
    else:
        lines.append("  evaluation: none (pass --eval FILE to score the model while training)")
    return lines
