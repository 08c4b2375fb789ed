"""Checkpoints: a run killed with SIGKILL (mid-run, or mid-write) resumes to the same weights."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny import train_args

from warmstart.cli import main
from warmstart.torch.weights import load_weights
from warmstart.train.checkpoint import list_checkpoints, rotate

HERE = Path(__file__).parent
RUN = (
    "--max-steps",
    "10",
    "--save-every",
    "3",
    "--keep-last",
    "2",
    "--log-every",
    "1",
    "--new-lr",
    "1e-2",
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, bert_dir, data_dir) -> Path:
    """The uninterrupted run (dropout on: resuming must restore the random state too)."""
    out = tmp_path_factory.mktemp("reference")
    main(train_args(bert_dir, data_dir, out, *RUN))
    return out


def assert_same_weights(a: Path, b: Path) -> None:
    left, right = load_weights(a / "model"), load_weights(b / "model")
    assert left.keys() == right.keys()
    different = [k for k in left if not torch.equal(left[k], right[k])]
    assert not different, different


def killed_run(args: list[str], marker: Path, mode: str, at: int) -> None:
    """Start a training process, SIGKILL it once it pauses at ``mode``/``at``."""
    cmd = [sys.executable, str(HERE / "pausing_run.py"), str(marker), mode, str(at), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the in-process reference run
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run ended before pausing:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_uninterrupted_run_keeps_the_last_checkpoints(reference: Path):
    assert [step for step, _ in list_checkpoints(reference)] == [9, 10]
    assert (reference / "model" / "model.safetensors").is_file()
    assert (reference / "checkpoint-9" / "vocab.txt").is_file()  # checkpoints hold the tokenizer


def test_killed_mid_run_resumes_to_the_same_weights(tmp_path, bert_dir, data_dir, reference):
    out = tmp_path / "out"
    args = train_args(bert_dir, data_dir, out, *RUN)
    killed_run(args, tmp_path / "paused", "step", 5)  # checkpoint-3 written, checkpoint-6 not
    assert [step for step, _ in list_checkpoints(out)] == [3]
    assert not (out / "model").exists()
    main([*args, "--resume"])
    assert_same_weights(out, reference)
    steps = [r for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 10  # rows of steps 4-5 from the killed run were dropped, then redone


def test_killed_while_writing_a_checkpoint(tmp_path, bert_dir, data_dir, reference):
    out = tmp_path / "out"
    args = train_args(bert_dir, data_dir, out, *RUN)
    killed_run(args, tmp_path / "paused", "checkpoint", 6)
    assert [step for step, _ in list_checkpoints(out)] == [3]
    assert list(out.glob(".checkpoint-6.tmp-*"))  # the half-written folder, never renamed
    main([*args, "--resume"])
    assert not list(out.glob(".checkpoint-*"))
    assert_same_weights(out, reference)


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(
    tmp_path, bert_dir, data_dir, reference, caplog
):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "model")
    weights = out / "checkpoint-10" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one flipped bit: still a readable file, but not what was written
    weights.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        main([*train_args(bert_dir, data_dir, out, *RUN), "--resume"])
    messages = [r.getMessage() for r in caplog.records]
    assert any("checkpoint-10" in m and "checksum" in m for m in messages), messages
    assert any("Resuming from" in m and "checkpoint-9" in m for m in messages), messages
    assert_same_weights(out, reference)  # step 10 redone from checkpoint-9


def test_resume_without_checkpoints_starts_over(tmp_path, bert_dir, data_dir, reference, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        main([*train_args(bert_dir, data_dir, out, *RUN), "--resume"])
    assert any("no checkpoint" in r.getMessage() for r in caplog.records)
    assert_same_weights(out, reference)


def test_rotation_keeps_the_last_k_and_the_best(tmp_path: Path):
    for step in (2, 4, 6, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / ".checkpoint-10.tmp-x").mkdir()  # half-written: not a checkpoint
    rotate(tmp_path, keep_last=1, best_step=4)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [4, 8]
    rotate(tmp_path, keep_last=2, best_step=None)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [4, 8]


def test_checkpoints_record_the_best_metric(tmp_path, bert_dir, data_dir):
    out = tmp_path / "out"
    args = ["--eval", str(data_dir / "eval.jsonl"), "--eval-every", "2", "--save-every", "2"]
    main(
        train_args(bert_dir, data_dir, out, *args, "--max-steps", "4", "--best-metric", "eval_loss")
    )
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    losses = {
        r["step"]: r["eval_loss"]
        for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
        if r["split"] == "eval"
    }
    best = min(losses, key=losses.get)
    assert state["best"] == {"metric": "eval_loss", "value": losses[best], "step": best}
    assert state["metrics"]["eval_loss"] == losses[4]
