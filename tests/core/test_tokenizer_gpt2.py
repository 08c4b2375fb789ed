"""GPT2Tokenizer against transformers' GPT2Tokenizer, live, on a byte-level BPE trained here (no
downloads), from vocab.json + merges.txt and from tokenizer.json."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import transformers
from tokenizers import ByteLevelBPETokenizer

from warmstart import AutoTokenizer, GPT2Tokenizer, GPT2TokenizerFast

EOT = "<|endoftext|>"
TEXTS = [
    "Hello world",
    " Hello world, again!",
    "café naïve Ångström résumé Crème Brûlée",
    "中文字符 and 日本語のテキスト, 한국어",
    "emoji 😀🎉 👍🏽 done",
    "  leading and   inner   spaces  ",
    "line one\nline two\n\n\tindented\r\n",
    f"two texts{EOT}joined by the end token",
    "numbers 3.14159 and 1,000,000 and 2024-01-01",
    "",
    "unseen: ⅞ ∮ ℵ ᚠ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]
LONG = "The quick brown fox jumps over the lazy dog. " * 40


def _corpus(n: int = 300) -> list[str]:
    words = [
        "the",
        "a",
        "cat",
        "dog",
        "café",
        "naïve",
        "über",
        "中文",
        "日本",
        "😀",
        "running",
        "jumped",
        "quickly",
        "over",
        "under",
        "42",
        "3.5",
    ]
    rng = random.Random(0)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(n)]


def train_byte_level_bpe(folder: Path) -> Path:
    """Write GPT-2's files (vocab.json and merges.txt only) for a small byte-level BPE."""
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(_corpus(), vocab_size=400, min_frequency=2, special_tokens=[EOT])
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(folder))
    return folder


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory) -> Path:
    return train_byte_level_bpe(tmp_path_factory.mktemp("gpt2_files"))


@pytest.fixture(scope="module")
def json_folder(bpe_folder, tmp_path_factory) -> Path:
    """The same tokenizer as transformers saves it (tokenizer.json and tokenizer_config.json)."""
    folder = tmp_path_factory.mktemp("gpt2_json")
    transformers.GPT2Tokenizer.from_pretrained(bpe_folder).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["vocab_merges", "tokenizer_json"])
def pair(request, bpe_folder, json_folder):
    folder = bpe_folder if request.param == "vocab_merges" else json_folder
    return GPT2Tokenizer.from_pretrained(folder), transformers.GPT2Tokenizer.from_pretrained(folder)


def test_texts_tokens_and_decoding_match(pair):
    ours, ref = pair
    assert GPT2TokenizerFast is GPT2Tokenizer
    for text in [*TEXTS, LONG]:
        ids = ours(text)["input_ids"]
        assert ids == ref(text)["input_ids"], text
        assert ours.tokenize(text) == ref.tokenize(text), text
        assert ours.decode(ids) == ref.decode(ids) == text, text
        assert ours.decode(ids, skip_special_tokens=True) == ref.decode(
            ids, skip_special_tokens=True
        )


def test_special_tokens_and_vocabulary(pair):
    ours, ref = pair
    assert ours.special_tokens_map == {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}
    assert ours.pad_token is None and ref.pad_token is None
    assert ours.eos_token_id == ref.eos_token_id == ours.get_vocab()[EOT]
    assert ours.get_vocab() == ref.get_vocab()
    assert len(ours) == len(ref)
    assert ours("Hello")["input_ids"][0] != ours.bos_token_id  # no bos is added by default


def test_truncation_and_padding_with_eos_as_pad(pair):
    ours, ref = pair
    with pytest.raises(ValueError, match="pad_token = tokenizer.eos_token"):
        ours(TEXTS[:3], padding=True)
    ours.pad_token, ref.pad_token = ours.eos_token, ref.eos_token
    try:
        for kw in (
            dict(padding=True),
            dict(padding="max_length", truncation=True, max_length=24),
            dict(truncation=True, max_length=10),
        ):
            batch = [*TEXTS, LONG]
            a = ours(batch, return_tensors="np" if "padding" in kw else None, **kw)
            b = ref(batch, return_tensors="np" if "padding" in kw else None, **kw)
            assert sorted(a) == sorted(b) == ["attention_mask", "input_ids"]
            for key in a:
                assert _lists(a[key]) == _lists(b[key]), (kw, key)
    finally:
        ours.pad_token, ref.pad_token = None, None


def test_add_prefix_space_matches(bpe_folder):
    ours = GPT2Tokenizer.from_pretrained(bpe_folder, add_prefix_space=True)
    ref = transformers.GPT2Tokenizer.from_pretrained(bpe_folder, add_prefix_space=True)
    for text in TEXTS:
        assert ours(text)["input_ids"] == ref(text)["input_ids"], text


def test_auto_tokenizer_and_saving(json_folder, tmp_path):
    ours = AutoTokenizer.from_pretrained(json_folder)
    assert type(ours) is GPT2Tokenizer
    ours.save_pretrained(tmp_path)
    for loaded in (
        transformers.AutoTokenizer.from_pretrained(tmp_path),
        AutoTokenizer.from_pretrained(tmp_path),
    ):
        for text in TEXTS:
            assert loaded(text)["input_ids"] == ours(text)["input_ids"], (type(loaded), text)


def _lists(value):
    return value.tolist() if hasattr(value, "tolist") else value
