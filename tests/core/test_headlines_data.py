"""warmstart.data.headlines: lengths spread as real documents' do, the same seed gives the same
files, the splits share no source, and each headline can be read off its report."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from warmstart.data import headlines

SIZES = {"train": 1500, "eval": 100, "test": 400}


@pytest.fixture(scope="module")
def splits():
    return headlines.make_splits(seed=0, sizes=SIZES)


def test_sources_spread_from_20_to_150_tokens_skewed_right_as_documents_are(splits):
    lengths = [headlines.count_tokens(r["source"]) for r in splits["train"]]
    assert min(lengths) >= 20 and max(lengths) <= 150
    assert sum(n < 40 for n in lengths) > 0.2 * len(lengths)  # many short ones
    assert sum(n > 100 for n in lengths) > 0.05 * len(lengths)  # a long tail
    assert statistics.mean(lengths) > statistics.median(lengths)  # skewed right
    assert len(set(lengths)) > 80  # every length, not a few fixed ones


def test_targets_are_5_to_30_tokens_and_vary(splits):
    lengths = [headlines.count_tokens(r["target"]) for r in splits["train"]]
    assert min(lengths) >= 5 and max(lengths) <= 30
    assert max(lengths) - min(lengths) >= 15


def test_the_same_seed_writes_the_same_files_and_another_seed_others(tmp_path):
    sizes = {"train": 50, "eval": 5, "test": 10}
    a = headlines.write_splits(tmp_path / "a", seed=3, sizes=sizes)
    b = headlines.write_splits(tmp_path / "b", seed=3, sizes=sizes)
    c = headlines.write_splits(tmp_path / "c", seed=4, sizes=sizes)
    assert set(a) == set(sizes)
    for name in sizes:
        assert a[name].read_bytes() == b[name].read_bytes()
        rows = [json.loads(line) for line in a[name].read_text().splitlines()]
        assert len(rows) == sizes[name] and all(set(r) == {"source", "target"} for r in rows)
    assert a["train"].read_bytes() != c["train"].read_bytes()


def test_splits_share_no_source(splits):
    seen = [{r["source"] for r in rows} for rows in splits.values()]
    assert sum(len(s) for s in seen) == sum(SIZES.values())  # no duplicate inside a split either
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_each_headline_is_read_off_the_first_sentence_of_its_event():
    rng = random.Random(0)
    for _ in range(200):
        example = headlines.make_example(rng)
        for headline in example["target"].split("; "):
            words = headline.split()
            place = next(p for p in headlines.PLACES if headline.startswith(p))
            assert place in example["source"]
            assert len(words) >= 4  # place, subject, verb, object


def test_a_plural_subject_takes_the_plural_verb():
    rng = random.Random(1)
    targets = " ; ".join(headlines.make_example(rng)["target"] for _ in range(300))
    assert "police approve " in targets or "farmers approve " in targets or " launch " in targets
    assert "council approves " in targets or "bank approves " in targets or " launches " in targets
    assert "police approves" not in targets and "farmers launches" not in targets
