"""The rest of transformers' tokenizer API, live against transformers: pad (and the data collators
built on it), add_tokens/add_special_tokens, convert_tokens_to_string, the extra call options
(numpy outputs, words, overflowing windows) and the constructors' keywords. Each test runs the
same calls on both libraries' tokenizers, built from the same files (MiniLM's BERT vocabulary, a
GPT-2 byte-level BPE trained here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from test_tokenizer_gpt2 import train_byte_level_bpe

import warmstart
from warmstart.tokenizer import BatchEncoding

TEXTS = ["Hello, world!", "a much longer text with café and 中文 in it", "", "x y"]
PAIRS = ["and its pair", "b", "c d e", ""]
ADDED = "hello newtok<x> the [PAD] cat<sp1>newtokcat Newtok <z> end"


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory) -> Path:
    return train_byte_level_bpe(tmp_path_factory.mktemp("gpt2_files"))


@pytest.fixture(params=["bert", "gpt2"])
def pair(request, minilm_dir, bpe_folder):
    """Fresh (ours, transformers') tokenizers of one kind; GPT-2's with a pad token (its eos)."""
    if request.param == "bert":
        return (
            warmstart.BertTokenizer.from_pretrained(minilm_dir),
            transformers.BertTokenizer.from_pretrained(minilm_dir),
        )
    ours = warmstart.GPT2Tokenizer.from_pretrained(bpe_folder)
    ref = transformers.GPT2Tokenizer.from_pretrained(bpe_folder)
    ours.pad_token, ref.pad_token = ours.eos_token, ref.eos_token
    return ours, ref


def plain(value):
    """Tensors and arrays to (nested) lists, keeping which values were tensors or arrays, their
    dtypes and shapes (numpy's ragged rows are object arrays of arrays)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), value.tolist())
    if isinstance(value, np.ndarray) and value.dtype == object:
        return ("ndarray", "object", value.shape, [plain(row) for row in value])
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, value.tolist())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_same(got, want):
    assert list(got) == list(want)  # same keys, in the same order
    assert plain(dict(got)) == plain(dict(want))


def assert_same_outcome(ours, ref):
    """Call ``ref()`` and ``ours()``: the same result, or the same type of error. Where the
    tokenizers library panics (pyo3's PanicException, a BaseException), warmstart raises a
    ValueError; in a batch its threads may reach a panicking row or a failing one first, so that
    the panic or a plain Exception comes out from run to run."""
    try:
        want = ref()
    except Exception as err:
        with pytest.raises(type(err)):
            ours()
        return None
    except BaseException as err:
        if type(err).__name__ != "PanicException":
            raise
        with pytest.raises(ValueError):
            ours()
        return None
    got = ours()
    assert_same(got, want)
    return got


# ---- pad and the data collators --------------------------------------------------------------


def inputs(tok, form: str):
    """The same unpadded batch in the forms pad takes (a fresh copy for each library)."""
    enc = tok(TEXTS, PAIRS, return_special_tokens_mask=True)
    if form == "dict":
        return dict(enc)
    if form == "batch_encoding":
        return enc
    if form == "features":
        return [{k: v[i] for k, v in enc.items()} for i in range(len(TEXTS))]
    if form == "tensors":
        return [{k: torch.tensor(v[i]) for k, v in enc.items()} for i in range(len(TEXTS))]
    if form == "single":
        return {k: v[1] for k, v in enc.items()}
    if form == "no_mask":
        return [{"input_ids": ids} for ids in enc["input_ids"]]
    raise ValueError(form)


@pytest.mark.parametrize(
    "form", ["dict", "batch_encoding", "features", "tensors", "single", "no_mask"]
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": "longest", "return_tensors": "pt"},
        {"padding": "max_length", "max_length": 30},
        {"padding": "max_length"},
        {"padding": False},
        {"pad_to_multiple_of": 8, "return_tensors": "pt"},
        {"padding": False, "pad_to_multiple_of": 8},
        {"return_attention_mask": False},
        {"padding_side": "left"},
    ],
)
def test_pad_matches(pair, form, kwargs):
    ours, ref = pair
    got = assert_same_outcome(
        lambda: ours.pad(inputs(ours, form), **kwargs), lambda: ref.pad(inputs(ref, form), **kwargs)
    )
    assert got is None or isinstance(got, BatchEncoding)


def test_pad_follows_padding_side_and_leaves_other_fields(pair):
    ours, ref = pair
    ours.padding_side = ref.padding_side = "left"
    features = [{"input_ids": ids, "labels": ids[:2]} for ids in ref(TEXTS)["input_ids"]]
    want = ref.pad([dict(f) for f in features])
    got = ours.pad([dict(f) for f in features])
    assert_same(got, want)
    assert got["attention_mask"][0][0] == 0  # padded on the left
    with pytest.raises(ValueError):  # labels are not padded, so they do not make one tensor
        ref.pad([dict(f, labels=f["input_ids"]) for f in features], return_tensors="pt")
    with pytest.raises(ValueError, match="labels"):
        ours.pad([dict(f, labels=f["input_ids"]) for f in features], return_tensors="pt")


def numpy_inputs(tok, form: str):
    """The unpadded batch of :func:`inputs` as numpy arrays (a fresh copy for each library)."""
    enc = tok(TEXTS, PAIRS, return_special_tokens_mask=True)
    if form == "arrays":
        return [{k: np.array(v[i]) for k, v in enc.items()} for i in range(len(TEXTS))]
    if form == "matrix":  # a dict of 2-D arrays, as a padded numpy call returns it
        return dict(tok(TEXTS, PAIRS, padding=True, return_tensors="np"))
    raise ValueError(form)


@pytest.mark.parametrize("form", ["arrays", "matrix"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": "max_length", "max_length": 30, "padding_side": "left"},
        {"padding": False},
        {"pad_to_multiple_of": 8, "return_tensors": "pt"},
        {"return_tensors": "np", "return_attention_mask": False},
    ],
)
def test_pad_numpy_inputs_match(pair, form, kwargs):
    ours, ref = pair
    got = ours.pad(numpy_inputs(ours, form), **kwargs)
    assert_same(got, ref.pad(numpy_inputs(ref, form), **kwargs))
    kind = torch.Tensor if kwargs.get("return_tensors") == "pt" else np.ndarray
    assert isinstance(got["input_ids"], kind)


def test_pad_lists_to_numpy_match(pair):
    ours, ref = pair
    for form in ("features", "dict", "single", "tensors"):
        want = ref.pad(inputs(ref, form), return_tensors="np")
        assert_same(ours.pad(inputs(ours, form), return_tensors="np"), want)
    labels = [{"input_ids": ids, "labels": ids[:2]} for ids in ref(TEXTS)["input_ids"]]
    want = ref.pad([dict(f) for f in labels], return_tensors="np")  # ragged labels: object array
    assert_same(ours.pad([dict(f) for f in labels], return_tensors="np"), want)


def test_pad_one_numpy_example(pair):
    """transformers' pad raises on one example given as 1-D arrays (it reads a numpy int as an
    unknown type); warmstart pads it, as transformers pads the same example given as lists."""
    ours, ref = pair
    example = {k: v[1] for k, v in inputs(ref, "dict").items()}
    with pytest.raises(ValueError):
        ref.pad({k: np.array(v) for k, v in example.items()}, padding="max_length", max_length=40)
    got = ours.pad(
        {k: np.array(v) for k, v in example.items()}, padding="max_length", max_length=40
    )
    want = ref.pad(example, padding="max_length", max_length=40, return_tensors="np")
    assert_same(got, want)


def test_pad_errors_match(bpe_folder):
    ours = warmstart.GPT2Tokenizer.from_pretrained(bpe_folder)
    ref = transformers.GPT2Tokenizer.from_pretrained(bpe_folder)
    features = [{"input_ids": [1, 2]}, {"input_ids": [3]}]
    for tok in (ref, ours):
        with pytest.raises(ValueError, match="pad_token"):
            tok.pad(features)
        with pytest.raises(ValueError, match="input_ids"):
            tok.pad({"labels": [[1]]})
        assert_same(tok.pad(features, padding=False), ref.pad(features, padding=False))


def seq2seq_features(tok):
    sources = tok(TEXTS)["input_ids"]
    targets = tok(text_target=list(reversed(TEXTS)))["input_ids"]
    return [{"input_ids": s, "labels": t} for s, t in zip(sources, targets)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"pad_to_multiple_of": 8},
        {"padding": "max_length", "max_length": 32},
        {"label_pad_token_id": 0, "padding": "longest"},
    ],
)
def test_data_collator_for_seq2seq(pair, kwargs):
    ours, ref = pair
    got = transformers.DataCollatorForSeq2Seq(ours, model=None, **kwargs)(seq2seq_features(ours))
    want = transformers.DataCollatorForSeq2Seq(ref, model=None, **kwargs)(seq2seq_features(ref))
    assert isinstance(got["input_ids"], torch.Tensor)
    assert_same(got, want)


def test_data_collator_for_seq2seq_left_padding(pair):
    ours, ref = pair
    ours.padding_side = ref.padding_side = "left"
    got = transformers.DataCollatorForSeq2Seq(ours, model=None)(seq2seq_features(ours))
    want = transformers.DataCollatorForSeq2Seq(ref, model=None)(seq2seq_features(ref))
    assert_same(got, want)


@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}])
def test_data_collator_with_padding(pair, kwargs):
    ours, ref = pair

    def features(tok):
        enc = tok(TEXTS, PAIRS)
        rows = [{k: v[i] for k, v in enc.items()} for i in range(len(TEXTS))]
        return [{**row, "label": i % 2, "score": i / 4} for i, row in enumerate(rows)]

    got = transformers.DataCollatorWithPadding(ours, **kwargs)(features(ours))
    want = transformers.DataCollatorWithPadding(ref, **kwargs)(features(ref))
    assert "labels" in got and got["score"].dtype == torch.float32
    assert_same(got, want)


# ---- added tokens ----------------------------------------------------------------------------


def add_tokens_recipe(tok) -> list:
    """The usual calls, returning what each returns."""
    return [
        tok.add_special_tokens({"pad_token": "[PAD]"}),
        tok.add_tokens(["newtok", "hello", "the", "newtok"]),
        tok.add_tokens("<sp1>", special_tokens=True),
        tok.add_special_tokens({"additional_special_tokens": ["<x>", "<y>"]}),
        tok.add_special_tokens({"extra_special_tokens": ["<z>"]}),  # replaces <x>, <y>
        tok.add_special_tokens(
            {"extra_special_tokens": ["<w>"]}, replace_extra_special_tokens=False
        ),
        tok.add_special_tokens({"mask_token": "<mask>"}),
        tok.add_tokens([]),
        tok.add_special_tokens({}),
    ]


def assert_same_vocab_and_specials(ours, ref):
    assert len(ours) == len(ref)
    assert ours.get_vocab() == ref.get_vocab()
    assert ours.get_added_vocab() == ref.get_added_vocab()
    assert {i: str(t) for i, t in ours.added_tokens_decoder.items()} == {
        i: str(t) for i, t in ref.added_tokens_decoder.items()
    }
    for name in ("pad_token", "pad_token_id", "mask_token", "mask_token_id", "eos_token_id"):
        assert getattr(ours, name) == getattr(ref, name), name
    for name in ("extra_special_tokens", "extra_special_tokens_ids", "all_special_tokens"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert ours.all_special_ids == ref.all_special_ids
    assert ours.special_tokens_map == ref.special_tokens_map
    assert hasattr(ours, "additional_special_tokens") == hasattr(ref, "additional_special_tokens")


def assert_same_added_encoding(ours, ref):
    for text in (ADDED, [ADDED, "newtok"]):
        assert plain(dict(ours(text, padding=True))) == plain(dict(ref(text, padding=True)))
    ids = ref(ADDED)["input_ids"]
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip)
        assert ours.convert_ids_to_tokens(ids, skip) == ref.convert_ids_to_tokens(ids, skip)


def test_add_tokens_and_special_tokens_match(pair):
    ours, ref = pair
    ours.pad_token = ref.pad_token = None  # GPT-2 as it comes: no pad token
    assert add_tokens_recipe(ours) == add_tokens_recipe(ref)
    assert_same_vocab_and_specials(ours, ref)
    assert_same_added_encoding(ours, ref)
    assert "newtok" in ours.tokenize(ADDED)


def test_gpt2_pad_token_recipe(bpe_folder):
    ours = warmstart.GPT2Tokenizer.from_pretrained(bpe_folder)
    ref = transformers.GPT2Tokenizer.from_pretrained(bpe_folder)
    n = len(ours)
    assert ours.add_special_tokens({"pad_token": "[PAD]"}) == ref.add_special_tokens(
        {"pad_token": "[PAD]"}
    )
    assert len(ours) == len(ref) == n + 1
    assert ours.pad_token_id == ref.pad_token_id == n
    want = ref(TEXTS, padding=True, return_tensors="pt")
    assert_same(ours(TEXTS, padding=True, return_tensors="pt"), want)
    assert ours.batch_decode(want["input_ids"], skip_special_tokens=True) == ref.batch_decode(
        want["input_ids"], skip_special_tokens=True
    )


def test_add_special_tokens_errors_match(pair):
    ours, ref = pair
    for bad in ({"foo_token": "x"}, {"pad_token": 3}, {"extra_special_tokens": "<x>"}):
        with pytest.raises(ValueError):
            ref.add_special_tokens(bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            ours.add_special_tokens(bad)


@pytest.mark.parametrize("saver", ["warmstart", "transformers"])
def test_added_tokens_survive_save_and_load(pair, saver, tmp_path):
    ours, ref = pair
    ours.pad_token = ref.pad_token = None
    add_tokens_recipe(ours)
    add_tokens_recipe(ref)
    (ours if saver == "warmstart" else ref).save_pretrained(tmp_path)
    ours_loaded = type(ours).from_pretrained(tmp_path)
    ref_loaded = type(ref).from_pretrained(tmp_path)
    for loaded in (ours_loaded, warmstart.AutoTokenizer.from_pretrained(tmp_path)):
        assert_same_vocab_and_specials(loaded, ref)
        assert_same_added_encoding(loaded, ref)
    assert_same_vocab_and_specials(ours, ref_loaded)
    assert_same_added_encoding(ours, ref_loaded)


# ---- convert_tokens_to_string and call options -----------------------------------------------


def test_convert_tokens_to_string_matches(pair):
    ours, ref = pair
    for text in [*TEXTS, "unaffable naïve 😀  spaces", ADDED]:
        tokens = ref.tokenize(text)
        assert ours.convert_tokens_to_string(tokens) == ref.convert_tokens_to_string(tokens)
    assert ours.convert_tokens_to_string([]) == ref.convert_tokens_to_string([])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"return_length": True},
        {"return_length": True, "padding": True},
        {"return_length": True, "padding": True, "return_tensors": "pt"},
        {"return_offsets_mapping": True},
        {"return_offsets_mapping": True, "padding": True, "return_tensors": "pt"},
        {"return_special_tokens_mask": True, "padding": True},
        {"padding": True, "padding_side": "left", "return_special_tokens_mask": True},
        {"stride": 0, "is_split_into_words": False, "verbose": False},
        {
            "return_length": True,
            "return_offsets_mapping": True,
            "truncation": True,
            "max_length": 5,
        },
    ],
)
def test_call_options_match(pair, kwargs):
    ours, ref = pair
    for args in ((TEXTS[1],), (TEXTS,), (TEXTS, PAIRS), (TEXTS[0], PAIRS[0])):
        assert_same(ours(*args, **kwargs), ref(*args, **kwargs))


def test_word_ids_tokens_and_sequence_ids_match(pair):
    ours, ref = pair
    for args in ((TEXTS,), (TEXTS, PAIRS)):
        got, want = ours(*args, padding=True), ref(*args, padding=True)
        for i in range(len(TEXTS)):
            assert got.word_ids(i) == want.word_ids(i)
            assert got.tokens(i) == want.tokens(i)
            assert got.sequence_ids(i) == want.sequence_ids(i)
    one, one_ref = ours(TEXTS[1], return_tensors="pt"), ref(TEXTS[1], return_tensors="pt")
    assert one.to("cpu").word_ids() == one_ref.word_ids()
    assert len(one.encodings) == len(one_ref.encodings) == 1
    with pytest.raises(ValueError, match="word_ids"):
        ours.pad(ours(TEXTS)).word_ids(0)


def test_other_keywords(pair):
    ours, ref = pair
    ref("hello", max_lenght=3)  # transformers ignores a keyword it does not know
    with pytest.raises(TypeError, match="max_lenght"):
        ours("hello", max_lenght=3)
    with pytest.raises(NotImplementedError, match="text_pair_target"):
        ours(TEXTS, text_target=TEXTS, text_pair_target=PAIRS)


# ---- numpy outputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": True, "return_length": True, "return_special_tokens_mask": True},
        {"return_offsets_mapping": True, "return_length": True},  # ragged rows: object arrays
        {"padding": "max_length", "max_length": 12, "truncation": True, "padding_side": "left"},
        {"return_offsets_mapping": True, "padding": True, "add_special_tokens": False},
    ],
)
def test_numpy_outputs_match(pair, kwargs):
    ours, ref = pair
    for args in ((TEXTS[1],), (TEXTS,), (TEXTS, PAIRS), ("",)):
        got, want = (
            ours(*args, return_tensors="np", **kwargs),
            ref(*args, return_tensors="np", **kwargs),
        )
        assert_same(got, want)
        assert_same(got.to("cpu"), want.to("cpu"))  # numpy arrays stay as they are
    enum = transformers.TensorType.NUMPY
    got = ours(TEXTS, text_target=PAIRS, return_tensors=enum, **kwargs)
    assert_same(got, ref(TEXTS, text_target=PAIRS, return_tensors=enum, **kwargs))
    assert isinstance(got["input_ids"], np.ndarray)


def test_numpy_encode_matches(pair):
    ours, ref = pair
    for args in ((TEXTS[1],), (TEXTS[0], PAIRS[0]), ("",)):
        got = ours.encode(*args, return_tensors="np")
        assert plain(got) == plain(ref.encode(*args, return_tensors="np"))
        assert got.dtype == np.int64 and got.ndim == 2


# ---- texts split into words ------------------------------------------------------------------

WORDS = [
    ["Hello,", "wörld!"],
    ["a", "much", "longer", "text", "unaffable", "café", "中文"],
    [],
    ["x"],
]
PAIR_WORDS = [["and", "its", "pair"], ["b"], ["c", "d e"], []]


def assert_same_rows(got, want):
    """The same fields, and the same tokens, word ids and sequence ids in every row."""
    assert_same(got, want)
    assert len(got.encodings) == len(want.encodings)
    for i in range(len(want.encodings)):
        assert got.tokens(i) == want.tokens(i)
        assert got.word_ids(i) == want.word_ids(i)
        assert got.sequence_ids(i) == want.sequence_ids(i)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"return_offsets_mapping": True, "return_special_tokens_mask": True},
        {"padding": True, "return_length": True},
        {"truncation": True, "max_length": 6, "padding": True, "return_tensors": "pt"},
        {"add_special_tokens": False, "return_offsets_mapping": True},
    ],
)
def test_split_into_words_matches(pair, kwargs):
    ours, ref = pair
    for args in ((WORDS[1],), (WORDS,), (WORDS, PAIR_WORDS), (WORDS[0], PAIR_WORDS[0]), ([], [])):
        got = ours(*args, is_split_into_words=True, **kwargs)
        assert_same_rows(got, ref(*args, is_split_into_words=True, **kwargs))
    got = ours(WORDS[1], is_split_into_words=True)
    assert got.word_ids() != ours(" ".join(WORDS[1])).word_ids()  # words, not text: not ignored


def test_split_into_words_other_entry_points(pair):
    ours, ref = pair
    words = {"is_split_into_words": True}
    assert ours.encode(WORDS[1], PAIR_WORDS[0], **words) == ref.encode(
        WORDS[1], PAIR_WORDS[0], **words
    )
    assert ours.tokenize(WORDS[1], **words) == ref.tokenize(WORDS[1], **words)
    got = ours(WORDS, text_target=PAIR_WORDS, padding=True, **words)
    assert_same(got, ref(WORDS, text_target=PAIR_WORDS, padding=True, **words))
    batch = [tuple(WORDS[0]), (WORDS[1], PAIR_WORDS[1])]  # tuples of words; a (words, words) pair
    assert_same_rows(ours(batch, **words), ref(batch, **words))


def test_gpt2_split_into_words_with_prefix_space(bpe_folder):
    """transformers 5 needs no add_prefix_space for words (it does not raise without it); with
    it, each word gets GPT-2's leading space."""
    ours = warmstart.GPT2Tokenizer.from_pretrained(bpe_folder, add_prefix_space=True)
    ref = transformers.GPT2Tokenizer.from_pretrained(bpe_folder, add_prefix_space=True)
    for args in ((WORDS[1],), (WORDS,), (WORDS, PAIR_WORDS)):
        kwargs = {"is_split_into_words": True, "return_offsets_mapping": True}
        assert_same_rows(ours(*args, **kwargs), ref(*args, **kwargs))
    without = warmstart.GPT2Tokenizer.from_pretrained(bpe_folder)
    assert (
        ours(WORDS[1], is_split_into_words=True)["input_ids"]
        != without(WORDS[1], is_split_into_words=True)["input_ids"]
    )


@pytest.mark.parametrize(
    "args",
    [
        ("hello there",),  # a string is not a list of words
        (WORDS[1], "a pair"),
        (WORDS, "a pair"),
        (WORDS, PAIR_WORDS[:2]),
        ([1, 2],),
        ([["a"], "b c"],),
        ([(WORDS[0], PAIR_WORDS[0])], PAIR_WORDS[:1]),
    ],
)
def test_split_into_words_errors_match(pair, args):
    ours, ref = pair
    assert_same_outcome(
        lambda: ours(*args, is_split_into_words=True), lambda: ref(*args, is_split_into_words=True)
    )


def test_lists_of_words_without_the_flag(pair):
    ours, ref = pair
    with pytest.raises(TypeError):
        ref(WORDS)
    with pytest.raises(TypeError, match="is_split_into_words=True"):
        ours(WORDS)


# ---- overflowing tokens and stride -----------------------------------------------------------

LONG_TEXTS = ["one two three four five six seven eight nine ten eleven", "short", "a b c d e f g"]
QUESTIONS = ["what?", "who", "b"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_length": 6, "stride": 2},
        {"max_length": 7, "stride": 1, "padding": "max_length", "return_offsets_mapping": True},
        {"max_length": 6, "stride": 2, "padding": True, "return_tensors": "pt"},
        {"max_length": 6, "stride": 3, "padding": True, "return_tensors": "np"},
        {"max_length": 5, "padding": True, "padding_side": "left", "return_length": True},
        {"max_length": 6, "stride": 2, "return_special_tokens_mask": True, "verbose": False},
    ],
)
def test_overflowing_tokens_match(pair, kwargs):
    ours, ref = pair
    options = {"truncation": True, "return_overflowing_tokens": True, **kwargs}
    for args in ((LONG_TEXTS[0],), (LONG_TEXTS,), ([w.split() for w in LONG_TEXTS],)):
        words = {"is_split_into_words": isinstance(args[0][0], list)}
        got = ours(*args, **options, **words)
        assert_same_rows(got, ref(*args, **options, **words))
        texts = 1 if isinstance(args[0], str) else len(args[0])
        assert len(got["overflow_to_sample_mapping"]) > texts  # windows were added


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((QUESTIONS, LONG_TEXTS), {"truncation": "only_second", "max_length": 10, "stride": 2}),
        ((LONG_TEXTS, QUESTIONS), {"truncation": "only_first", "max_length": 10, "stride": 1}),
        ((QUESTIONS, LONG_TEXTS), {"truncation": "longest_first", "max_length": 8}),
        ((QUESTIONS, LONG_TEXTS), {"truncation": "only_second", "max_length": 4, "stride": 1}),
        ((LONG_TEXTS,), {"truncation": True, "max_length": 6, "stride": 5}),  # stride too long
        ((LONG_TEXTS,), {"truncation": True, "max_length": 6, "stride": 2, "return_tensors": "pt"}),
        ((LONG_TEXTS,), {"return_length": True}),  # no truncation: one row per text
    ],
)
def test_overflowing_pairs_and_errors_match(pair, args, kwargs):
    ours, ref = pair
    options = {"return_overflowing_tokens": True, "padding": False, **kwargs}
    got = assert_same_outcome(lambda: ours(*args, **options), lambda: ref(*args, **options))
    if got is not None:
        assert_same_rows(got, ref(*args, **options))


def test_overflow_with_left_truncation_and_labels(pair):
    ours, ref = pair
    ours.truncation_side = ref.truncation_side = "left"
    options = {"truncation": True, "max_length": 5, "stride": 1, "return_overflowing_tokens": True}
    got = ours(LONG_TEXTS, text_target=QUESTIONS, **options)
    assert_same_rows(got, ref(LONG_TEXTS, text_target=QUESTIONS, **options))
    assert ours.encode(LONG_TEXTS[0], **options) == ref.encode(LONG_TEXTS[0], **options)


def test_stride_without_overflowing_tokens(pair):
    ours, ref = pair
    for kwargs in ({"truncation": True, "max_length": 6}, {}):
        got = ours(LONG_TEXTS, stride=3, **kwargs)
        assert_same(got, ref(LONG_TEXTS, stride=3, **kwargs))
        assert_same(got, ours(LONG_TEXTS, **kwargs))  # stride alone changes nothing


def test_stride_longer_than_the_room_left_is_a_value_error(pair, capfd):
    """The tokenizers library panics there (transformers passes on its PanicException, which is
    no Exception, and Rust prints its backtrace); warmstart checks first and raises a ValueError
    that says what to change, with no panic behind it."""
    ours, ref = pair
    question = len(ref(QUESTIONS[0], add_special_tokens=False)["input_ids"])
    room = 10 - question - ref.num_special_tokens_to_add(pair=True)  # for the second text
    options = {"truncation": "only_second", "max_length": 10, "stride": room}
    with pytest.raises(BaseException) as theirs:
        ref(QUESTIONS, LONG_TEXTS, **options)
    assert not isinstance(theirs.value, Exception)
    assert "panicked" in capfd.readouterr().err
    with pytest.raises(ValueError, match="stride"):
        ours(QUESTIONS, LONG_TEXTS, **options)
    assert "panicked" not in capfd.readouterr().err


@pytest.mark.parametrize("strategy", ["only_first", "only_second", "longest_first"])
def test_stride_checked_against_the_room_left_row_by_row(pair, strategy):
    """Each pair on its own (no race between threads): wherever transformers fails or panics,
    warmstart raises a ValueError, and it gives the same rows everywhere else."""
    ours, ref = pair
    rows = [(q, t) for q in QUESTIONS for t in LONG_TEXTS] + [
        (t, q) for q in QUESTIONS for t in LONG_TEXTS
    ]
    for max_length in range(3, 11):
        for stride in range(1, 5):
            options = {"truncation": strategy, "max_length": max_length, "stride": stride}
            options["return_overflowing_tokens"] = True
            for first, second in rows:
                try:
                    want = ref(first, second, **options)
                except BaseException as err:  # the Rust panic, or its plain Exception
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    with pytest.raises(ValueError):
                        ours(first, second, **options)
                    continue
                assert_same_rows(ours(first, second, **options), want)


# ---- constructors ----------------------------------------------------------------------------


def test_bert_constructor_keywords_match(minilm_dir):
    path = str(minilm_dir / "vocab.txt")
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hello": 5, "##s": 6}
    for kwargs in (
        {"vocab": path},
        {"vocab": path, "do_lower_case": False},
        {"vocab": vocab},
        {"vocab": vocab, "unk_token": "[MASK]"},
        {},
    ):
        ours, ref = warmstart.BertTokenizer(**kwargs), transformers.BertTokenizer(**kwargs)
        assert len(ours) == len(ref), kwargs
        assert_same(ours([*TEXTS, "Hellos"]), ref([*TEXTS, "Hellos"]))
    assert_same(warmstart.BertTokenizer(path)("Hello"), transformers.BertTokenizer(path)("Hello"))
    with pytest.raises(TypeError, match="vocab="):
        warmstart.BertTokenizer(vocab_file=path)  # transformers ignores it: a 5-token vocab


def test_gpt2_constructor_keywords_match(bpe_folder):
    files = {"vocab": str(bpe_folder / "vocab.json"), "merges": str(bpe_folder / "merges.txt")}
    vocab = json.loads(Path(files["vocab"]).read_text(encoding="utf-8"))
    lines = Path(files["merges"]).read_text(encoding="utf-8").splitlines()[1:]
    merges = [tuple(line.split()) for line in lines if line]
    for kwargs in (
        files,
        {**files, "add_prefix_space": True},
        {"vocab": vocab, "merges": merges},
        {"vocab": vocab},
        {},
    ):
        ours, ref = warmstart.GPT2Tokenizer(**kwargs), transformers.GPT2Tokenizer(**kwargs)
        assert len(ours) == len(ref), kwargs
        assert_same(ours(TEXTS), ref(TEXTS))
    ours = warmstart.GPT2Tokenizer(files["vocab"], files["merges"])
    assert_same(ours(TEXTS), transformers.GPT2Tokenizer(**files)(TEXTS))
    with pytest.raises(TypeError, match="both"):
        warmstart.GPT2Tokenizer(vocab=files["vocab"])
    with pytest.raises(TypeError, match="vocab="):
        warmstart.GPT2Tokenizer(vocab_file=files["vocab"], merges_file=files["merges"])


def test_get_special_tokens_mask_matches(pair):
    ours, ref = pair
    ids = ref(TEXTS[0], PAIRS[0])["input_ids"] + [ref.pad_token_id]
    mask = ours.get_special_tokens_mask(ids, already_has_special_tokens=True)
    assert mask == ref.get_special_tokens_mask(ids, already_has_special_tokens=True)
    assert 1 in mask and 0 in mask
    for args, kwargs in [((ids, [5]), dict(already_has_special_tokens=True)), (([5, 6],), {})]:
        with pytest.raises(Exception) as theirs:
            ref.get_special_tokens_mask(*args, **kwargs)
        with pytest.raises(type(theirs.value)):
            ours.get_special_tokens_mask(*args, **kwargs)
