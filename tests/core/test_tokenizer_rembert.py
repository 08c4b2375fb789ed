"""RemBertTokenizer (a SentencePiece ``sentencepiece.model`` run by the ``tokenizers`` library)
against transformers' ``RemBertTokenizer``, live, on a small SentencePiece model trained here, and
against SentencePiece's own segmentation; saved folders load both ways.

transformers 5.x builds its tokenizer from the model file without the ``[CLS] A [SEP]`` template
and without 4.x's ``[MASK]`` that takes the space before it; those two points follow transformers
4.x (its fast class) and are checked here against the documented format."""

import json

import pytest

spm = pytest.importorskip("sentencepiece")  # trains the model
import transformers as hf  # noqa: E402

from warmstart import AutoTokenizer, RemBertTokenizer, RemBertTokenizerFast  # noqa: E402

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Sentence fusion joins two sentences; however, it keeps their meaning.",
    "Numbers like 1234 and accents: café, naïve, ÉCOLE.",
    'He said: "hello" -- and left!',
]
TEXTS = [
    "The quick  brown fox",
    "  café naïve ``x'' ÉCOLE zebra! ",
    "x <unk> <pad> y [SEP] z",
    "qqq xyz 9876 ß ∑ 東京",
    "tab\there\nnew line",
    "[CLS][MASK]end",
    "",
]
SETTINGS = [{}, {"do_lower_case": True, "keep_accents": False}]


def _train(folder, model_type="unigram"):
    (folder / "corpus.txt").write_text("\n".join(CORPUS * 20))
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"),
        model_prefix=str(folder / "sentencepiece"),
        vocab_size=70,
        model_type=model_type,
        pad_id=0,
        unk_id=2,  # where transformers 5.x's class puts the unknown token
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    return folder / "sentencepiece.model"


@pytest.fixture(scope="module", params=SETTINGS, ids=["cased", "lower_no_accents"])
def folder(tmp_path_factory, request):
    """A folder with ``sentencepiece.model`` and a tokenizer_config.json of these settings."""
    folder = tmp_path_factory.mktemp("rembert")
    _train(folder)
    config = {"tokenizer_class": "RemBertTokenizer", **request.param}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_encodes_and_decodes_as_transformers(folder):
    theirs = hf.AutoTokenizer.from_pretrained(str(folder))
    ours = AutoTokenizer.from_pretrained(folder)
    assert type(ours) is RemBertTokenizer and RemBertTokenizerFast is RemBertTokenizer
    assert len(ours) == len(theirs)
    assert ours.all_special_ids == theirs.all_special_ids
    for text in TEXTS:
        ids = theirs(text, add_special_tokens=False)["input_ids"]
        assert ours(text, add_special_tokens=False)["input_ids"] == ids, text
        assert ours.tokenize(text) == theirs.tokenize(text)
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(
                ids, skip_special_tokens=skip
            )


def test_special_tokens_frame_one_text_or_a_pair(folder):
    """``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` with token types 0 then 1, around the
    pieces transformers makes; padded batches as tensors."""
    theirs = hf.AutoTokenizer.from_pretrained(str(folder))
    ours = RemBertTokenizer.from_pretrained(folder)
    cls, sep = ours.cls_token_id, ours.sep_token_id
    assert (cls, sep) == (theirs.convert_tokens_to_ids("[CLS]"), theirs.sep_token_id)
    a, b = (theirs(t, add_special_tokens=False)["input_ids"] for t in TEXTS[:2])
    assert ours(TEXTS[0])["input_ids"] == [cls, *a, sep]
    pair = ours(TEXTS[0], TEXTS[1])
    assert pair["input_ids"] == [cls, *a, sep, *b, sep]
    assert pair["token_type_ids"] == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    batch = ours(TEXTS[:3], padding=True, return_tensors="np")
    assert batch["input_ids"].shape[0] == 3 and batch["input_ids"][0, -1] == ours.pad_token_id
    # the mask token takes the space before it (transformers 4.x's fast class)
    assert ours("a [MASK]")["input_ids"] == ours("a[MASK]")["input_ids"]


def test_segments_as_sentencepiece(folder):
    """Where RemBERT's normalisation leaves the text as SentencePiece reads it (no quotes pairs,
    no spaces at the ends), the pieces are SentencePiece's own."""
    ours = RemBertTokenizer(folder / "sentencepiece.model")
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    for text in ("The quick  brown fox", "Numbers like 1234 and accents: café, naïve.", "x y"):
        assert ours.tokenize(text) == sp.encode(text, out_type=str)


def test_saved_folders_load_both_ways(folder, tmp_path):
    ours = AutoTokenizer.from_pretrained(folder)
    files = ours.save_pretrained(tmp_path / "ours")
    assert any(f.endswith("sentencepiece.model") for f in files)
    again = hf.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    reread = AutoTokenizer.from_pretrained(tmp_path / "ours")  # now from its tokenizer.json
    for text in [*TEXTS, "a [MASK] b"]:
        ids = ours(text)["input_ids"]
        assert again(text)["input_ids"] == ids and reread(text)["input_ids"] == ids, text
        assert again.decode(ids) == ours.decode(ids)
    theirs = hf.AutoTokenizer.from_pretrained(str(folder))
    theirs.save_pretrained(tmp_path / "theirs")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "theirs")
    assert type(loaded) is RemBertTokenizer
    for text in [*TEXTS, "a [MASK] b"]:  # the file's own tokens: its [MASK] as it says
        assert loaded(text)["input_ids"] == theirs(text)["input_ids"], text


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not a unigram model"):
        RemBertTokenizer(_train(tmp_path, model_type="bpe"))
    with pytest.raises(ValueError, match="needs vocab_file"):
        RemBertTokenizer()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="sentencepiece.model"):
        RemBertTokenizer.from_pretrained(tmp_path / "empty")
