"""Generation metrics (ROUGE with rouge-score, BLEU with sacrebleu, exact match) and their records.

Texts are compared case-insensitively, with the spaces a WordPiece decoder leaves before punctuation
removed, so an uncased model is not penalised for casing it cannot produce. Each record is one JSON
line of ``metrics.jsonl``; TensorBoard events are written too when ``tensorboard`` is installed, and
:func:`plot_metrics` draws the curves with matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..hub import write_text_atomic

logger = logging.getLogger("warmstart")

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
METRIC_NAMES = (*ROUGE_TYPES, "bleu", "exact_match")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?'])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def normalize(text: str) -> str:
    """Lower-case, collapse whitespace, drop spaces before punctuation."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.lower().split()))


def compute_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F1, BLEU and exact match, all on a 0-100 scale, ignoring case.

    Args:
        predictions: generated texts.
        references: the reference texts, one per prediction.

    Returns:
        A dict keyed by :data:`METRIC_NAMES`.
    """
    import sacrebleu
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references.")
    if not predictions:
        raise ValueError("No predictions to score.")
    preds = [normalize(p) for p in predictions]
    refs = [normalize(r) for r in references]
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for pred, ref in zip(preds, refs):
        # rougeLsum reads one sentence per line.
        scores = scorer.score(_sentences(ref), _sentences(pred))
        for key in ROUGE_TYPES:
            totals[key] += scores[key].fmeasure
    out = {key: 100.0 * total / len(preds) for key, total in totals.items()}
    out["bleu"] = sacrebleu.corpus_bleu(preds, [refs]).score
    out["exact_match"] = 100.0 * sum(p == r for p, r in zip(preds, refs)) / len(preds)
    return out


def _sentences(text: str) -> str:
    return "\n".join(_SENTENCE_END.split(text))


def higher_is_better(metric: str) -> bool:
    """Losses are minimised; every other metric is maximised."""
    return "loss" not in metric


class MetricsLog:
    """Appends records to ``metrics.jsonl`` (and TensorBoard, when importable) in one folder."""

    def __init__(self, folder: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(folder) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _tensorboard_writer(self.path.parent) if tensorboard else None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (it must hold ``step``)."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        self._add_scalars(record)

    def _add_scalars(self, record: dict[str, Any]) -> None:
        if self._writer is not None:
            prefix = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._writer.add_scalar(f"{prefix}/{key}", value, record["step"])

    def truncate_after(self, step: int) -> None:
        """Drop records beyond ``step`` (written by a run that stopped before its next checkpoint),
        from ``metrics.jsonl`` and from TensorBoard, whose events are written again from the
        records kept (a resumed run would otherwise show the steps it redoes twice)."""
        if not self.path.is_file():
            return
        kept = [r for r in read_records(self.path) if r.get("step", 0) <= step]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        write_text_atomic(self.path, text)
        if self._writer is not None:
            self._writer.close()
            shutil.rmtree(self.path.parent / "tensorboard", ignore_errors=True)
            self._writer = _tensorboard_writer(self.path.parent)
            for record in kept:
                self._add_scalars(record)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _tensorboard_writer(folder: Path) -> Any:
    if "tensorflow" not in sys.modules:
        # TensorBoard imports TensorFlow when it is installed (seconds, and its start-up log
        # lines) unless this marker module exists; its own event writer needs none of TensorFlow
        sys.modules.setdefault(_NO_TF, types.ModuleType(_NO_TF))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(folder / "tensorboard"))


_NO_TF = "tensorboard.compat.notf"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, skipping a torn last line."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def plot_metrics(metrics_file: str | Path, out_file: str | Path) -> Path:
    """Draw training loss and evaluation metrics against the step into a PNG.

    Args:
        metrics_file: a ``metrics.jsonl``.
        out_file: the PNG to write.

    Returns:
        The PNG's path.
    """
    records = read_records(metrics_file)
    train = [r for r in records if r.get("split") == "train"]
    evals = [r for r in records if r.get("split") == "eval"]
    fig, (left, right) = _two_panels()
    left.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    if evals and "eval_loss" in evals[0]:
        left.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="eval")
    left.set(xlabel="step", ylabel="loss", title="Loss")
    left.legend()
    for name in ("rouge1", "rouge2", "rougeL", "bleu", "exact_match"):
        if evals and name in evals[0]:
            right.plot([r["step"] for r in evals], [r[name] for r in evals], "o-", label=name)
    right.set(xlabel="step", ylabel="score", title="Evaluation")
    if evals:
        right.legend()
    return _save_figure(fig, out_file)


def plot_comparison(runs: dict[str, str | Path], out_file: str | Path) -> Path:
    """Draw several runs on the same axes: loss (training, and evaluation where recorded) and
    evaluation ROUGE-L against the step, one colour per run.

    Args:
        runs: a label for each run and its ``metrics.jsonl``.
        out_file: the PNG to write.

    Returns:
        The PNG's path.
    """
    fig, (left, right) = _two_panels()
    for index, (label, path) in enumerate(runs.items()):
        color = f"C{index}"
        records = read_records(path)
        train = [r for r in records if r.get("split") == "train"]
        evals = [r for r in records if r.get("split") == "eval"]
        steps = [r["step"] for r in evals]
        left.plot([r["step"] for r in train], [r["loss"] for r in train], color=color, alpha=0.5)
        if evals and "eval_loss" in evals[0]:
            left.plot(steps, [r["eval_loss"] for r in evals], "o-", color=color, label=label)
        if evals and "rougeL" in evals[0]:
            right.plot(steps, [r["rougeL"] for r in evals], "o-", color=color, label=label)
    left.set(xlabel="step", ylabel="loss", title="Loss (line: training, dots: evaluation)")
    right.set(xlabel="step", ylabel="ROUGE-L", title="Evaluation ROUGE-L")
    for axes in (left, right):
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    return _save_figure(fig, out_file)


def _two_panels() -> tuple[Any, Any]:
    """A figure and its two side-by-side axes, drawn with matplotlib's Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, 2, figsize=(11, 4))


def _save_figure(fig: Any, out_file: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_file = Path(out_file)
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file
