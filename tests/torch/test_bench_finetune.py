"""benchmarks/bench_finetune.py: the race runs end to end in its quick mode on a tiny random BERT
(MiniLM's vocabulary), every variant trains on every example once and is scored, and the printed
table and bench.py's rows have their structure."""

from __future__ import annotations

import math
import shutil

import pytest
from bench_scripts import bench_script

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    with bench_script("bench_finetune") as module:
        yield module


@pytest.fixture(scope="module")
def tiny_bert(minilm_dir, tmp_path_factory):
    import transformers as hf
    from tiny_configs import TINY

    folder = tmp_path_factory.mktemp("tiny-bert")
    config = hf.BertConfig(**(TINY | {"vocab_size": 30522, "max_position_embeddings": 256}))
    hf.BertModel(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, folder / name)
    return folder


def test_generated_tokens_stop_at_the_first_eos(bench):
    import torch

    ids = torch.tensor([[101, 5, 6, 102, 0, 0], [101, 102, 0, 0, 0, 0], [101, 7, 8, 9, 10, 11]])
    assert bench.generated_tokens(ids, eos=102) == 3 + 1 + 5


def test_padding_share_counts_each_batch_padded_to_its_longest_rows(bench):
    # one batch: sources 2 and 4, labels 3 and 1 -> padded 2 x (4 + 3) = 14, real 10
    assert bench.padded_share([[(2, 3), (4, 1)]]) == pytest.approx(1 - 10 / 14)
    assert bench.padded_share([[(5, 5)], [(3, 2)]]) == 0


def test_the_quick_race_runs_every_variant_and_prints_its_table(bench, tiny_bert, tmp_path):
    lines: list[str] = []
    argv = ["--quick", "--steps", "2", "--batch-size", "4", "--test-inputs", "6"]
    argv += ["--checkpoint", str(tiny_bert), "--output", str(tmp_path / "race.json")]
    data = bench.main(argv, write=lines.append)
    results = data["results"]
    assert list(results) == ["a", "b", "c"]
    for r in results.values():
        assert r["train_s"] > 0 and r["generate_s"] > 0 and r["job_s"] > r["train_s"]
        assert r["train_real_tokens"] > 8 * 20  # 8 examples of 20+ source tokens each
        assert 0 <= r["train_padding"] < 1 and 0 <= r["rougeL"] <= 100
        assert r["generated_tokens"] > 0 and math.isfinite(r["train_loss"])
    # every run saw the same 8 examples once: the same source tokens; transformers' labels add
    # [CLS], one token per example
    a, b, c = (results[k]["train_real_tokens"] for k in "abc")
    assert a == b == c + 8
    assert set(data["ratios"]) == {"a", "b"}
    assert data["ratios"]["a"]["job"] == pytest.approx(
        results["a"]["job_s"] / results["c"]["job_s"]
    )
    text = "\n".join(lines)
    assert "2 steps of 4, 6 test inputs" in text
    for label in bench.VARIANTS.values():
        assert label in text
    assert "warmstart vs (a) Seq2SeqTrainer: train " in text and "whole job" in text
    assert (tmp_path / "race.json").is_file()


def test_bench_rows_compare_warmstart_with_each_transformers_variant(bench, monkeypatch):
    fake = {
        key: {
            "variant": bench.VARIANTS[key],
            "train_s": 10.0 * (2 if key == "a" else 1.5 if key == "b" else 1),
            "generate_s": 2.0,
            "job_s": 0.0,
            "train_tokens_per_s": 1.0,
            "train_padding": 0.1,
            "train_loss": 1.0,
            "generate_tokens_per_s": 1.0,
            "rougeL": 50.0,
        }
        for key in "abc"
    }
    for r in fake.values():
        r["job_s"] = r["train_s"] + r["generate_s"]
    monkeypatch.setattr(bench, "race", lambda args: fake)
    args = bench.settle(bench.parse_args(["--quick", "--checkpoint", "x"]), quick=True)
    rows = bench.rows(args)
    assert [r["figure"] for r in rows] == [
        "headlines: fine-tune 6x8 vs (a)",
        "headlines: generate vs (a)",
        "headlines: whole job vs (a)",
        "headlines: fine-tune 6x8 vs (b)",
        "headlines: generate vs (b)",
        "headlines: whole job vs (b)",
    ]
    assert rows[2]["transformers"] / rows[2]["warmstart"] == pytest.approx(22 / 12)


def test_unknown_variants_are_refused_in_one_line(bench):
    with pytest.raises(SystemExit, match="pass letters among a, b, c"):
        bench.parse_args(["--variants", "ax", "--checkpoint", "x"])
    with pytest.raises(SystemExit, match="--test-inputs 0: pass a positive number"):
        bench.parse_args(["--test-inputs", "0", "--checkpoint", "x"])


def test_make_bench_runs_the_race_only_when_asked(monkeypatch):
    import types

    with bench_script("bench") as main_bench:
        assert main_bench.finetune_rows(main_bench.parse_args(["--quick"])) == []
        args = main_bench.parse_args(["--quick", "--finetune", "--finetune-steps", "3"])
        seen = {}

        def rows(race):
            seen.update(vars(race))
            return [{"figure": "headlines: whole job vs (a)", "unit": "s", "warmstart": 1.0,
                     "transformers": 2.0}]  # fmt: skip

        stub = types.SimpleNamespace(settle=lambda race, quick: race, rows=rows)
        monkeypatch.setattr(main_bench, "bench_module", lambda name: stub)
        (row,) = main_bench.finetune_rows(args)
        assert row.speedup == 2.0 and seen["steps"] == 3 and seen["variants"] == "abc"
