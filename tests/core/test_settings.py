"""warmstart.generation.settings, the one merge every framework's generate reads: the start
token of encoder-decoder decoding."""

from __future__ import annotations

import pytest

from warmstart.generation import GenerationConfig
from warmstart.generation.settings import start_token


def test_the_start_token_is_the_decoder_start_else_bos():
    assert start_token(GenerationConfig(decoder_start_token_id=4, bos_token_id=7)) == 4
    assert start_token(GenerationConfig(bos_token_id=7)) == 7
    assert start_token(GenerationConfig(decoder_start_token_id=0, bos_token_id=7)) == 0


def test_no_start_token_says_how_to_set_one():
    with pytest.raises(ValueError, match=r"model\.config\.decoder_start_token_id = "):
        start_token(GenerationConfig())
