"""Two tokenizers with one model: a bert2gpt2 from text to text, saved with save_tokenizers and
restored with load_tokenizers."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from test_tokenizer_gpt2 import train_byte_level_bpe
from tiny_configs import GPT2_TINY, TINY

from warmstart import (
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    EncoderDecoderConfig,
    EncoderDecoderModel,
    GPT2Config,
    GPT2Tokenizer,
    load_tokenizers,
    save_tokenizers,
)
from warmstart.tokenizer import DECODER_TOKENIZER_FOLDER

pytestmark = pytest.mark.usefixtures("one_thread")

SOURCE = "The café on the corner opens at nine."
TARGET = "café 中文 opens at 9 😀"


def _bert2gpt2(bert: BertTokenizer, gpt2: GPT2Tokenizer) -> EncoderDecoderModel:
    no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    encoder = BertConfig(**{**TINY, **no_dropout, "vocab_size": len(bert)})
    decoder = GPT2Config(
        **{
            **GPT2_TINY,
            **dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
            "vocab_size": len(gpt2),
            "bos_token_id": gpt2.bos_token_id,
            "eos_token_id": gpt2.eos_token_id,
        }
    )
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        encoder,
        decoder,
        decoder_start_token_id=gpt2.bos_token_id,
        pad_token_id=gpt2.eos_token_id,
        eos_token_id=gpt2.eos_token_id,
    )
    return EncoderDecoderModel(config)


def _fit(model, source, labels, steps: int = 60) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    # GPT-2's start, end and pad token are one token: the default decoder mask (inputs != pad)
    # would hide the start token, so the (unpadded) target passes its own
    mask = torch.ones_like(labels)
    for _ in range(steps):
        loss = model(**source, labels=labels, decoder_attention_mask=mask).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def _generate_text(model, enc_tok, dec_tok) -> str:
    source = enc_tok(SOURCE, return_tensors="pt")
    ids = model.generate(
        source["input_ids"], attention_mask=source["attention_mask"], max_new_tokens=30
    )
    return dec_tok.decode(ids[0], skip_special_tokens=True)


@pytest.mark.filterwarnings("ignore:labels contain pad_token_id")  # the target's eos is GPT-2's pad
def test_bert2gpt2_text_to_text_round_trip(minilm_dir, tmp_path):
    bert = BertTokenizer.from_pretrained(minilm_dir)
    gpt2 = GPT2Tokenizer.from_pretrained(train_byte_level_bpe(tmp_path / "gpt2"))
    gpt2.pad_token = gpt2.eos_token
    torch.manual_seed(0)
    model = _bert2gpt2(bert, gpt2)
    source = bert(SOURCE, return_tensors="pt")
    source.pop("token_type_ids")
    target = gpt2(TARGET)["input_ids"] + [gpt2.eos_token_id]
    _fit(model, dict(source), torch.tensor([target]))
    assert _generate_text(model, bert, gpt2) == TARGET

    folder = tmp_path / "bert2gpt2"
    model.save_pretrained(folder)
    save_tokenizers(folder, bert, gpt2)
    assert (folder / DECODER_TOKENIZER_FOLDER / "tokenizer.json").is_file()
    again = EncoderDecoderModel.from_pretrained(folder)
    enc_tok, dec_tok = load_tokenizers(folder)
    assert (type(enc_tok), type(dec_tok)) == (BertTokenizer, GPT2Tokenizer)
    assert dec_tok.pad_token == gpt2.eos_token
    assert _generate_text(again, enc_tok, dec_tok) == TARGET
    # transformers finds the encoder's tokenizer at the top of the folder
    theirs = hf.AutoTokenizer.from_pretrained(folder)
    assert theirs(SOURCE)["input_ids"] == bert(SOURCE)["input_ids"]


def test_one_tokenizer_is_saved_once(minilm_dir, tmp_path):
    bert = AutoTokenizer.from_pretrained(minilm_dir)
    stale = tmp_path / DECODER_TOKENIZER_FOLDER
    stale.mkdir()
    (stale / "tokenizer.json").write_text("{}")
    save_tokenizers(tmp_path, bert, BertTokenizer.from_pretrained(minilm_dir))
    assert not stale.exists()
    enc_tok, dec_tok = load_tokenizers(tmp_path)
    assert enc_tok is dec_tok
    assert enc_tok(SOURCE)["input_ids"] == bert(SOURCE)["input_ids"]
