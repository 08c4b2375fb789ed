"""The README's example for the paper's own checkpoints, run on a BertGeneration bert2bert folder that
transformers saved (tiny and random, with a SentencePiece vocabulary trained here): warmstart's
summary equals transformers' summary, token for token and as text."""

import pytest

pytest.importorskip("sentencepiece")  # trains the vocabulary; transformers' tokenizer needs it
import torch
import transformers as hf
from test_tokenizer_bert_generation import _train
from tiny_configs import TINY, randomize_

ARTICLE_TO_SUMMARIZE = (
    "Sentence fusion joins two sentences; however, it keeps their meaning. The quick brown fox "
    "jumps over the lazy dog."
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A bert2bert of BertGeneration halves with its tokenizer, saved by transformers."""
    torch.manual_seed(0)  # a module fixture runs before the per-test seed
    folder = tmp_path_factory.mktemp("bert2bert_bbc")
    tokenizer = hf.BertGenerationTokenizer(str(_train(tmp_path_factory.mktemp("spm"))))
    half = dict(TINY, vocab_size=len(tokenizer), max_position_embeddings=128)
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertGenerationConfig(**half), hf.BertGenerationConfig(**half)
    )
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.eos_token_id, config.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    model = randomize_(hf.EncoderDecoderModel(config), std=0.3).eval()
    with torch.no_grad():  # let a tiny random model read its input, and write more than <s>
        for layer in model.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        model.decoder.lm_head.bias[:4] -= 5.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _summarize(library, folder):
    """The README's example, with ``library`` for the import it changes."""
    model = library.EncoderDecoderModel.from_pretrained(folder)
    tokenizer = library.AutoTokenizer.from_pretrained(folder)
    input_ids = tokenizer(ARTICLE_TO_SUMMARIZE, return_tensors="pt").input_ids
    generated_ids = model.generate(
        input_ids, num_beams=4, no_repeat_ngram_size=3, max_new_tokens=12
    )
    return generated_ids, tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]


def test_readme_example_summarizes_as_transformers(folder):
    import warmstart

    ours, text = _summarize(warmstart, folder)
    theirs, expected = _summarize(hf, folder)
    assert (
        type(warmstart.AutoTokenizer.from_pretrained(folder)).__name__ == "BertGenerationTokenizer"
    )
    assert ours.tolist() == theirs.tolist()
    assert text == expected and len(set(ours[0].tolist())) > 3  # more than a repeated token
