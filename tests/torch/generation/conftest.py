"""Shared fixtures: a tiny random transformers bert2bert model and a step function built on it.

The step function runs transformers' decoder on the whole prefix at each step (no key/value
cache), so its logits are bit-identical to those of transformers' ``generate(use_cache=False)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from warmstart.torch.generation import GenerateOutput, generate

START, PAD, EOS = 2, 1, 3
VOCAB = 99


def _tiny_bert2bert(eos_bias: float, eos_ids: tuple[int, ...] = (EOS,)):
    from transformers import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

    torch.manual_seed(0)
    sizes = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        initializer_range=0.1,  # varied outputs across inputs, still ~uniform logits
    )
    encoder = BertConfig(**sizes)
    # An untied LM head: with tied embeddings the tiny decoder mostly repeats its last token.
    decoder = BertConfig(
        **sizes, is_decoder=True, add_cross_attention=True, tie_word_embeddings=False
    )
    config = EncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = START, PAD, EOS
    model = EncoderDecoderModel(config=config).eval()
    with torch.no_grad():  # make eos likely enough that rows end at varied lengths
        model.decoder.cls.predictions.decoder.bias[list(eos_ids)] += eos_bias
    return model


class Bert2Bert:
    """A transformers model, a padded input batch, and our step/reorder callables for it."""

    def __init__(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        self.model, self.input_ids, self.attention_mask = model, input_ids, attention_mask

    def rows(self, index: list[int]) -> Bert2Bert:
        return Bert2Bert(self.model, self.input_ids[index], self.attention_mask[index])

    @torch.no_grad()
    def cache(self) -> tuple[torch.Tensor, ...]:
        hidden = self.model.encoder(
            input_ids=self.input_ids, attention_mask=self.attention_mask
        ).last_hidden_state
        return self.input_ids.new_zeros(len(self.input_ids), 0), hidden, self.attention_mask

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        previous, hidden, mask = cache
        prefix = torch.cat([previous, tokens], dim=1)
        logits = self.model.decoder(
            input_ids=prefix, encoder_hidden_states=hidden, encoder_attention_mask=mask
        ).logits
        return logits[:, -1].float(), (prefix, hidden, mask)

    @staticmethod
    def reorder(cache: Any, index: torch.Tensor) -> Any:
        return tuple(t.index_select(0, index) for t in cache)

    def start_ids(self) -> torch.Tensor:
        return torch.full((len(self.input_ids), 1), START, dtype=torch.long)

    def ours(self, **options: Any) -> GenerateOutput:
        options = {"decoder_start_token_id": START, "pad_token_id": PAD, **options}
        options.setdefault("eos_token_id", EOS)
        return generate(
            self.step,
            self.reorder,
            self.cache(),
            self.start_ids(),
            encoder_input_ids=self.input_ids,
            **options,
        )

    @torch.no_grad()
    def hf(self, **options: Any):
        options = {"decoder_start_token_id": START, "pad_token_id": PAD, **options}
        options.setdefault("eos_token_id", EOS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.model.generate(
                self.input_ids,
                attention_mask=self.attention_mask,
                use_cache=False,
                return_dict_in_generate=True,
                output_scores=True,
                **options,
            )


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one thread: these tensors are tiny, and extra threads only slow them down (badly
    so when other processes share the CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model():
    return _tiny_bert2bert(eos_bias=0.4)


def _padded_batch(model) -> Bert2Bert:
    """Six inputs of 9 tokens; rows 1 and 3 are right-padded."""
    gen = torch.Generator().manual_seed(1)
    input_ids = torch.randint(4, VOCAB, (6, 9), generator=gen)
    mask = torch.ones_like(input_ids)
    for row, length in ((1, 5), (3, 7)):
        input_ids[row, length:] = PAD
        mask[row, length:] = 0
    return Bert2Bert(model, input_ids, mask)


@pytest.fixture(scope="session")
def bert2bert(tiny_model) -> Bert2Bert:
    return _padded_batch(tiny_model)


@pytest.fixture(scope="session")
def two_eos_bert2bert() -> Bert2Bert:
    """Tokens 3 and 4 both likely eos: often more than num_beams candidates end at once."""
    return _padded_batch(_tiny_bert2bert(eos_bias=2.0, eos_ids=(EOS, 4)))
