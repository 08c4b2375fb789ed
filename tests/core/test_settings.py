"""warmstart.generation.settings, the one merge every framework's generate reads: the start
token of encoder-decoder decoding."""

from __future__ import annotations

import pytest

from warmstart.generation import GenerationConfig
from warmstart.generation.settings import beam_fill, pad_id, start_token


def test_the_start_token_is_the_decoder_start_else_bos():
    assert start_token(GenerationConfig(decoder_start_token_id=4, bos_token_id=7)) == 4
    assert start_token(GenerationConfig(bos_token_id=7)) == 7
    assert start_token(GenerationConfig(decoder_start_token_id=0, bos_token_id=7)) == 0


def test_no_start_token_says_how_to_set_one():
    with pytest.raises(ValueError, match=r"model\.config\.decoder_start_token_id = "):
        start_token(GenerationConfig())


def test_one_pad_rule_with_each_side_s_fallback_and_the_beam_fill():
    assert pad_id(GenerationConfig(pad_token_id=4, eos_token_id=2)) == 4
    assert pad_id(GenerationConfig(eos_token_id=[2, 3])) == 2
    assert pad_id(GenerationConfig()) is None and pad_id(GenerationConfig(), 0) == 0
    assert beam_fill(GenerationConfig(pad_token_id=0, eos_token_id=[2, 3])) == 2
    assert beam_fill(GenerationConfig(pad_token_id=5, eos_token_id=2)) == 5
    assert beam_fill(GenerationConfig(pad_token_id=5)) == -1
