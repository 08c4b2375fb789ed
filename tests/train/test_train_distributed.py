"""`warmstart train` under torchrun: two CPU processes (gloo) train like one with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny import train_args

from warmstart.cli import main
from warmstart.torch.weights import load_weights
from warmstart.train import distributed
from warmstart.train.checkpoint import list_checkpoints

RUN = ("--max-steps", "6", "--log-every", "1", "--save-every", "3", "--keep-last", "5")


def train_rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "train"]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path, bert_nodrop_dir, data_dir):
    ddp = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "warmstart.cli",
        *train_args(bert_nodrop_dir, data_dir, ddp, "--batch-size", "2", "--device", "cpu", *RUN),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    single = tmp_path / "single"
    main(
        train_args(bert_nodrop_dir, data_dir, single, "--batch-size", "4", "--device", "cpu", *RUN)
    )

    ddp_rows, single_rows = train_rows(ddp), train_rows(single)
    assert [r["step"] for r in ddp_rows] == list(range(1, 7))  # one writer: no duplicated rows
    assert [r["loss"] for r in ddp_rows] == pytest.approx(
        [r["loss"] for r in single_rows], rel=1e-4
    )
    assert ddp_rows[-1]["loss"] < ddp_rows[0]["loss"]
    a, b = load_weights(ddp / "model"), load_weights(single / "model")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-4, msg=name)
    assert [step for step, _ in list_checkpoints(ddp)] == [3, 6]
    assert len(torch.load(ddp / "checkpoint-6" / "rng.pt", weights_only=True)) == 2  # both ranks'
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: pytest.fail("set_device reached"))
    for key, value in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=r"2 processes .* 1 CUDA device.*--nproc_per_node 1"):
        distributed.setup("cuda")


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"--device cuda .* no CUDA device.*--device cpu"):
        distributed.setup("cuda")
