"""BertGenerationTokenizer (a SentencePiece ``spiece.model`` run by the ``tokenizers`` library)
against transformers' ``BertGenerationTokenizer`` (run by ``sentencepiece``), live, on a small
SentencePiece model trained here; saved folders load both ways."""

import pytest

spm = pytest.importorskip("sentencepiece")  # trains the model, and transformers' class needs it
import transformers as hf  # noqa: E402

from warmstart import AutoTokenizer, BertGenerationTokenizer  # noqa: E402
from warmstart.tokenizer.spm import read_spm  # noqa: E402

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Sentence fusion joins two sentences; however, it keeps their meaning.",
    "Numbers like 1234 and accents: café, naïve, ÉCOLE.",
    'He said: "hello" -- and left!',
]
TEXTS = [
    "The quick  brown fox",
    "  café naïve ÉCOLE zebra! ",
    "hello </s> world <s>x",
    "qqq xyz 9876 ß ∑ 東京",
    "tab\there\nnew line",
    "a<::::>b",
    "",
]


def _train(folder, model_type="unigram", byte_fallback=False):
    (folder / "corpus.txt").write_text("\n".join(CORPUS * 20))
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"),
        model_prefix=str(folder / "spiece"),
        vocab_size=60 + 256 * byte_fallback,
        model_type=model_type,
        byte_fallback=byte_fallback,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,  # the special ids of Rothe et al.'s vocabularies
        minloglevel=2,
    )
    return folder / "spiece.model"


@pytest.fixture(scope="module", params=[False, True], ids=["unigram", "byte_fallback"])
def pair(tmp_path_factory, request):
    path = _train(tmp_path_factory.mktemp("spm"), byte_fallback=request.param)
    return hf.BertGenerationTokenizer(str(path)), BertGenerationTokenizer(path)


def test_encodes_and_decodes_as_transformers(pair):
    """With byte fallback, transformers' decode writes byte pieces as text (``<0x39>``): that one
    is compared with SentencePiece's own decode instead."""
    theirs, ours = pair
    assert len(ours) == len(theirs) and ours.all_special_ids == theirs.all_special_ids
    for text in TEXTS:
        ids = theirs(text)["input_ids"]
        assert ours(text)["input_ids"] == ids, text
        assert ours.tokenize(text) == theirs.tokenize(text)
        if theirs.sp_model.piece_to_id("<0x41>") != theirs.sp_model.unk_id():  # byte fallback
            pieces = theirs.sp_model.encode(text)
            assert ours.decode(pieces) == theirs.sp_model.decode(pieces)
            continue
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(
                ids, skip_special_tokens=skip
            )
    a = theirs(TEXTS[:3], padding=True, return_tensors="np")
    b = ours(TEXTS[:3], padding=True, return_tensors="np")
    assert b["input_ids"].tolist() == a["input_ids"].tolist()
    assert b["attention_mask"].tolist() == a["attention_mask"].tolist()


def test_saved_folders_load_both_ways(pair, tmp_path):
    theirs, ours = pair
    theirs.save_pretrained(tmp_path / "theirs")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "theirs")
    assert type(loaded) is BertGenerationTokenizer
    ours.save_pretrained(tmp_path / "ours")
    again = hf.AutoTokenizer.from_pretrained(tmp_path / "ours")
    (tmp_path / "ours" / "spiece.model").unlink()  # tokenizer.json alone: run as written
    bare = AutoTokenizer.from_pretrained(tmp_path / "ours")
    for text in TEXTS:
        ids = theirs(text)["input_ids"]
        assert loaded(text)["input_ids"] == ids and again(text)["input_ids"] == ids
        assert bare(text)["input_ids"] == ids


def test_other_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        read_spm(b"\x0a\x05abc")
    with pytest.raises(ValueError, match="only unigram models are read"):
        BertGenerationTokenizer(_train(tmp_path, model_type="bpe"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="spiece.model"):
        BertGenerationTokenizer.from_pretrained(tmp_path / "empty")
