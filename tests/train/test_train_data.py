"""Reading, tokenising and batching training data."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
import torch

from warmstart import AutoTokenizer
from warmstart.train import data
from warmstart.train.data import (
    DataError,
    Example,
    collate,
    micro_batches,
    plan_batches,
    read_pairs,
    tokenize_pairs,
)

PAIRS = [
    ("Mary went home. Mary was tired.", "Mary went home because she was tired."),
    ("a, b", "c\td"),
]


def test_jsonl_csv_tsv_read_the_same(tmp_path: Path):
    import csv
    import json

    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"src": s, "tgt": t}) + "\n\n" for s, t in PAIRS)
    )
    for suffix, delimiter in ((".csv", ","), (".tsv", "\t")):
        with open(tmp_path / f"d{suffix}", "w", newline="") as f:
            writer = csv.writer(f, delimiter=delimiter)
            writer.writerows(
                [["id", "src", "tgt"], *[[str(i), s, t] for i, (s, t) in enumerate(PAIRS)]]
            )
    for name in ("d.jsonl", "d.csv", "d.tsv"):
        assert read_pairs(tmp_path / name, "src", "tgt") == PAIRS, name


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        (
            "bad.jsonl",
            '{"source": "a", "target": "b"}\n\n{"source": "a", \n',
            r"bad\.jsonl, line 3: not valid JSON",
        ),
        (
            "list.jsonl",
            '{"source": "a", "target": "b"}\n["a", "b"]\n',
            r"list\.jsonl, line 2: expected an object",
        ),
        (
            "field.jsonl",
            '{"source": "a", "target": "b"}\n{"source": "a", "tgt": "b"}\n',
            r"field\.jsonl, line 2: missing field 'target'",
        ),
        (
            "type.jsonl",
            '{"source": "a", "target": 3}\n',
            r"type\.jsonl, line 1: field 'target' is not a string",
        ),
        ("empty.jsonl", "\n\n", r"empty\.jsonl: the file holds no records"),
        ("empty.csv", "", r"empty\.csv: the file holds no records"),
        (
            "short.csv",
            "source,target\na,b\nc\n",
            r"short\.csv, line 3: 1 fields where the header has 2",
        ),
        ("cols.tsv", "src\ttarget\na\tb\n", r"cols\.tsv, line 2: missing field 'source'"),
        ("data.txt", "a\n", r"data\.txt: unknown format"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path: Path, name: str, text: str, match: str):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_pairs(tmp_path / name)


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"nope\.jsonl: no such file"):
        read_pairs(tmp_path / "nope.jsonl")


def test_long_targets_truncated_with_one_warning(bert_dir: Path, caplog):
    tok = AutoTokenizer.from_pretrained(bert_dir)
    pairs = [("mary went home .", "mary went home because she was tired .")] * 3
    pairs.append(("mary went home .", "she was tired ."))
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        examples = tokenize_pairs(pairs, tok, 64, 5, tok.sep_token_id, name="x.jsonl")
    warnings = [r.getMessage() for r in caplog.records if "targets" in r.getMessage()]
    assert warnings == [
        "x.jsonl: 3 of 4 targets are longer than --max-target-length 5 tokens and were truncated."
    ]
    assert [len(e.labels) for e in examples] == [5, 5, 5, 5]
    assert all(e.labels[-1] == tok.sep_token_id for e in examples)
    assert (
        examples[0].labels[:4]
        == tok("mary went home because", add_special_tokens=False)["input_ids"]
    )
    assert examples[0].input_ids[0] == tok.cls_token_id  # sources keep their special tokens


def test_long_sources_truncated_keep_special_tokens(bert_dir: Path, caplog):
    tok = AutoTokenizer.from_pretrained(bert_dir)
    tok.model_max_length = 6  # the source is longer than the model takes, and is truncated
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        (e,) = tokenize_pairs([("mary went home because she was tired .", "x")], tok, 4, 8, 3)
    assert len(e.input_ids) == 4 and e.input_ids[-1] == tok.sep_token_id
    messages = [r.getMessage() for r in caplog.records]
    assert any("sources are longer" in m for m in messages)
    assert not any("model's maximum" in m for m in messages), messages  # false where we truncate


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_non_utf8_data_names_file_and_line(tmp_path: Path, suffix: str):
    path = tmp_path / f"latin1{suffix}"
    if suffix == ".jsonl":
        text = '{"source": "a", "target": "b"}\n{"source": "caf\u00e9", "target": "c"}\n'
    else:
        text = "source,target\na,b\nab,caf\u00e9\n"  # the header is line 1
    path.write_bytes(text.encode("latin-1"))
    line, column = (2, 16) if suffix == ".jsonl" else (3, 7)
    where = rf"latin1\{suffix}, line {line}: not UTF-8 text \(byte 0xe9 at column {column}\)"
    with pytest.raises(DataError, match=where):
        read_pairs(path)


def test_empty_targets_refused_or_counted(tmp_path: Path, caplog):
    rows = [{"source": f"s{i}", "target": ""} for i in range(3)]
    path = tmp_path / "empty.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match="every 'target' is empty"):
        read_pairs(path)
    rows[1]["target"] = "t"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        assert len(read_pairs(path)) == 3
    assert [r.getMessage() for r in caplog.records] == [f"{path}: 2 of 3 targets are empty."]


def test_plan_is_deterministic_complete_and_length_grouped():
    lengths = [(i * 37) % 101 for i in range(1000)]
    plan = plan_batches(lengths, 8, seed=1, epoch=0)
    assert plan == plan_batches(lengths, 8, seed=1, epoch=0)
    assert plan != plan_batches(lengths, 8, seed=1, epoch=1)
    assert sorted(i for b in plan for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plan) / len(plan)
    assert spread < 10  # random batches of 8 would spread over ~80
    assert len(plan_batches(lengths[:13], 4, 1, 0, drop_below=2)) == 3  # the batch of 1 dropped


def test_plan_groups_by_source_then_label_length():
    sizes = [((i * 37) % 101 + 20, (i * 11) % 23 + 5) for i in range(1600)]
    plan = plan_batches(sizes, 16, seed=0, epoch=0)
    assert sorted(i for b in plan for i in b) == list(range(1600))

    def spread(b, side):
        return max(sizes[i][side] for i in b) - min(sizes[i][side] for i in b)

    # sorted by source, then two neighbouring batches by label: few source lengths, and labels
    # closer than sorting by source alone leaves them
    assert all(spread(b, 0) <= 6 for b in plan)
    by_source = data.LABEL_BATCHES
    data.LABEL_BATCHES = 1
    try:
        plain = plan_batches(sizes, 16, seed=0, epoch=0)
    finally:
        data.LABEL_BATCHES = by_source
    assert sum(spread(b, 1) for b in plan) < 0.8 * sum(spread(b, 1) for b in plain)
    examples = [Example([5] * s, [6] * t) for s, t in sizes]
    assert [e.size for e in examples] == sizes


def test_plan_sorts_the_whole_epoch():
    # sources of 20 to 150 tokens and targets of 5 to 30, drawn independently: sorting the whole
    # epoch (not chunks of it) leaves under 4% of a step's tokens padding, where sorting chunks of
    # 50 batches left about 7%
    rng = random.Random(0)
    sizes = [(rng.randint(20, 150), rng.randint(5, 30)) for _ in range(4800)]
    plan = plan_batches(sizes, 16, seed=0, epoch=0)
    assert sorted(i for b in plan for i in b) == list(range(4800))
    real = sum(s + t for s, t in sizes)
    padded = sum(len(b) * (max(sizes[i][0] for i in b) + max(sizes[i][1] for i in b)) for b in plan)
    assert 1 - real / padded < 0.04
    again = plan_batches(sizes, 16, seed=0, epoch=1)
    assert [sorted(b) for b in plan] != [sorted(b) for b in again]  # order and ties reshuffled


def test_micro_batches_split_every_example_once():
    batch = list(range(22))
    parts = [m for rank in range(2) for m in micro_batches(batch, 3, rank, 2)]
    assert sorted(i for m in parts for i in m) == batch
    assert all(len(m) >= 3 for m in parts)


def test_collate_pads_inputs_and_labels():
    from warmstart.train.data import Example

    batch = collate([Example([5, 6, 7], [8, 2]), Example([5], [9, 9, 2])], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[8, 2, -100], [9, 9, 2]]
    assert batch["labels"].dtype == torch.long
