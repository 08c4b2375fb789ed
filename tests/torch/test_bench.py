"""benchmarks/bench.py: its header names the CPU's extensions and chosen paths, and its
whole-generate row times a user's call on a model saved by transformers, with the same tokens in
both libraries."""

from __future__ import annotations

import shutil

import pytest
from bench_scripts import bench_script

from warmstart.torch.speed import cpu

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    with bench_script("bench") as module:
        yield module


def test_the_cpu_line_names_each_extension_limit_and_path(bench, monkeypatch):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: ["flags : fpu avx2 fma"])
    with cpu.forced(few_rows="linear"):
        line = bench.cpu_line(cpu.describe())
    assert "avx2 yes, avx512 no, avx512_bf16 no, amx no" in line
    assert "few_rows linear" in line and "oneDNN" in line and "MKL" in line


def test_the_whole_generate_row_times_both_libraries_on_the_same_tokens(
    bench, minilm_dir, tmp_path
):
    import transformers as hf
    from tiny_configs import TINY

    tiny = tmp_path / "tiny-bert"  # a tiny random BERT with MiniLM's tokenizer (its vocabulary)
    hf.BertModel(hf.BertConfig(**(TINY | {"vocab_size": 30522}))).save_pretrained(tiny)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, tiny / name)
    row = bench.user_generate_row(tmp_path, repeats=1, ckpt=tiny, steps=3)
    assert row.unit == "ms/step" and row.warmstart > 0 and row.transformers > 0
    assert row.note.endswith("same tokens: yes")


def test_interleaved_reverses_the_order_every_other_round(bench):
    calls = []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    times = bench.interleaved(fns, repeats=4, warmup=0)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"] and len(times) == 2
