"""Keras training of the TensorFlow model on the MiniLM bert2bert: ``train`` (the entry point of
``warmstart train --framework tf``) runs ``compile`` + ``fit`` on the model's own loss, lowers it, and
writes a folder PyTorch loads with the same loss."""

from __future__ import annotations

import torch

from warmstart import BertTokenizerFast, EncoderDecoderModel
from warmstart.tf import TFEncoderDecoderModel
from warmstart.tf.train import dataset, train

PAIRS = [
    ("the cat sat on the mat .", "a cat sat ."),
    ("dogs bark at night .", "dogs bark ."),
    ("the sun is hot today .", "sun hot ."),
    ("we like green tea .", "we like tea ."),
]


def test_train_writes_a_folder_every_framework_loads(minilm_dir, tmp_path):
    tokenizer = BertTokenizerFast.from_pretrained(minilm_dir)
    model = TFEncoderDecoderModel.from_encoder_decoder_pretrained(
        minilm_dir, minilm_dir, decoder_start_token_id=101, pad_token_id=0
    )
    batch = next(iter(dataset(PAIRS, tokenizer, batch_size=4)))
    before = float(model(**batch).loss)
    losses = train(PAIRS, tokenizer, model, steps=3, lr=5e-4, output_dir=tmp_path, batch_size=4)
    after = float(model(**batch).loss)
    assert after < before and losses["last_loss"] < losses["first_loss"]
    theirs = EncoderDecoderModel.from_pretrained(tmp_path)
    with torch.no_grad():
        pt_loss = theirs(**{k: torch.tensor(v.numpy()).long() for k, v in batch.items()}).loss
    assert abs(float(pt_loss) - after) < 1e-3
