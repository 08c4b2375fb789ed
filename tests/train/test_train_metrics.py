"""ROUGE/BLEU/exact-match scoring, the metrics file and the plot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from warmstart.train.checkpoint import is_better
from warmstart.train.metrics import (
    METRIC_NAMES,
    MetricsLog,
    compute_metrics,
    plot_comparison,
    plot_metrics,
)


def test_perfect_and_disjoint_predictions():
    refs = ["Mary went home because she was tired.", "Tom was hungry, so he made a sandwich."]
    perfect = compute_metrics(refs, refs)
    assert set(perfect) == set(METRIC_NAMES)
    assert all(
        perfect[k] == pytest.approx(100.0)
        for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu")
    )
    assert perfect["exact_match"] == 100.0
    disjoint = compute_metrics(["apples oranges pears", "one two three four"], refs)
    assert disjoint["rouge1"] == 0.0 and disjoint["exact_match"] == 0.0 and disjoint["bleu"] < 1


def test_uncased_wordpiece_output_matches_its_reference():
    # what an uncased BERT decoder prints for the first reference
    scores = compute_metrics(
        ["mary went home because she was tired ."], ["Mary went home because she was tired."]
    )
    assert scores["exact_match"] == 100.0 and scores["bleu"] == pytest.approx(100.0)


def test_partial_overlap_is_between():
    scores = compute_metrics(["mary went home."], ["Mary went home because she was tired."])
    assert 0 < scores["rouge2"] < scores["rouge1"] < 100
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        compute_metrics(["a", "b"], ["a"])


def test_best_metric_direction():
    assert is_better("rougeL", 30.0, {"value": 20.0}) and not is_better(
        "rougeL", 10.0, {"value": 20.0}
    )
    assert is_better("eval_loss", 1.0, {"value": 2.0}) and not is_better(
        "eval_loss", 3.0, {"value": 2.0}
    )
    assert is_better("bleu", 0.0, None)


def test_metrics_file_truncation_and_plot(tmp_path: Path):
    log = MetricsLog(tmp_path, tensorboard=False)
    for step in (1, 2, 3, 4):
        log.write({"split": "train", "step": step, "loss": 5.0 - step})
    log.write({"split": "eval", "step": 4, "eval_loss": 1.5, **dict.fromkeys(METRIC_NAMES, 0.5)})
    log.truncate_after(2)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    log.write({"split": "eval", "step": 2, "eval_loss": 1.5, **dict.fromkeys(METRIC_NAMES, 0.5)})
    png = plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_tensorboard_events_are_written(tmp_path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = MetricsLog(tmp_path)
    log.write({"step": 1, "loss": 2.5})
    log.write({"step": 2, "loss": 1.5, "split": "eval", "rougeL": 40.0})
    log.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [s.value for s in events.Scalars("train/loss")] == [2.5]
    assert [(s.step, s.value) for s in events.Scalars("eval/rougeL")] == [(2, 40.0)]


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed"
)
def test_tensorboard_events_are_written_without_importing_tensorflow(tmp_path: Path):
    code = (
        "import sys; from warmstart.train.metrics import MetricsLog; "
        f"log = MetricsLog({str(tmp_path)!r}); log.write({{'step': 1, 'loss': 2.5}}); log.close(); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "cpu_feature_guard" not in done.stderr and "oneDNN" not in done.stderr
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_comparison_draws_both_runs_on_the_same_axes(tmp_path: Path, monkeypatch):
    import warmstart.train.metrics as metrics

    runs = {}
    for name, rouge in (("warm", [30.0, 60.0]), ("random", [5.0, 10.0])):
        log = MetricsLog(tmp_path / name, tensorboard=False)
        for step, value in zip((5, 10), rouge):
            log.write({"split": "train", "step": step, "loss": 100 / value})
            log.write({"split": "eval", "step": step, "eval_loss": 50 / value, "rougeL": value})
        runs[name] = tmp_path / name / "metrics.jsonl"
    drawn = []
    real = metrics._save_figure
    monkeypatch.setattr(
        metrics, "_save_figure", lambda fig, out: drawn.append(fig) or real(fig, out)
    )
    png = plot_comparison(runs, tmp_path / "both.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    loss, rouge = drawn[0].axes
    assert [line.get_label() for line in rouge.lines] == ["warm", "random"]
    assert [list(line.get_ydata()) for line in rouge.lines] == [[30.0, 60.0], [5.0, 10.0]]
    assert {line.get_label() for line in loss.lines} >= {"warm", "random"}
    assert len(loss.lines) == 4  # each run's training and evaluation loss
