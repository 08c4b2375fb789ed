"""generate() on every heterogeneous pairing equals transformers' generate token for token, greedy
and beam search, on a padded batch where some rows finish early."""

from __future__ import annotations

import re

import pytest
import torch
import transformers as hf
from test_pairings import PAIRINGS, TOKENS, _theirs
from transformers.modeling_outputs import BaseModelOutput

from warmstart import EncoderDecoderModel
from warmstart.torch.decoding import PACK_MIN_STEPS

MAX_NEW = PACK_MIN_STEPS  # long enough that batched steps take oneDNN's packed weights
# the cross-attention output projection of every decoder family
CROSS_OUT = re.compile(
    r"(crossattention\.output\.dense|crossattention\.c_proj|encoder_attn\.out_proj)\.weight$"
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _source(B: int = 4, S: int = 9):
    """Rows that differ a lot (mostly one token each), right-padded to different lengths."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(3, 99, (B, 1), generator=g).repeat(1, S)
    x[:, ::3] = torch.randint(3, 99, (B, len(range(0, S, 3))), generator=g)
    mask = torch.ones_like(x)
    for row in range(1, B):
        mask[row, S - 2 * row :] = 0
    return x.masked_fill(mask == 0, TOKENS["pad_token_id"]), mask


def _their_generate(theirs, x, mask, **kw) -> torch.Tensor:
    if isinstance(theirs.encoder, hf.BartModel):
        # transformers 5's forward fails on BartModel's output; give it the BART encoder's states
        enc = theirs.encoder.encoder(input_ids=x, attention_mask=mask).last_hidden_state
        return theirs.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=enc), attention_mask=mask, **kw
        )
    return theirs.generate(x, attention_mask=mask, **kw)


def _pick_eos(sequences: torch.Tensor) -> int:
    """A token that greedy decoding emits in some rows but not all: as eos it ends those rows
    early and leaves the others running."""
    special = set(TOKENS.values())
    rows = [set(row[1:].tolist()) for row in sequences]
    for token in sequences[:, 1:].T.flatten().tolist():  # earliest steps first
        holders = sum(token in r for r in rows)
        if token not in special and 0 < holders < len(rows):
            return token
    raise AssertionError(f"every row decodes alike: {sequences.tolist()}")


@pytest.fixture(scope="module", params=sorted(PAIRINGS))
def pair(request, tmp_path_factory):
    torch.manual_seed(0)
    theirs = _theirs(request.param)
    with torch.no_grad():  # random tiny decoders barely read the encoder: make them
        for name, param in theirs.decoder.named_parameters():
            if CROSS_OUT.search(name):
                param.mul_(10)
    folder = tmp_path_factory.mktemp("pairing") / request.param
    theirs.save_pretrained(folder)
    ours = EncoderDecoderModel.from_pretrained(folder)
    x, mask = _source()
    free = ours.generate(x, attention_mask=mask, max_new_tokens=MAX_NEW, eos_token_id=None)
    return theirs, ours, _pick_eos(free)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_equals_transformers(pair, num_beams):
    theirs, ours, eos = pair
    x, mask = _source()
    kw = dict(max_new_tokens=MAX_NEW, num_beams=num_beams, do_sample=False, eos_token_id=eos)
    a = _their_generate(theirs, x, mask, **TOKENS, **kw)
    b = ours.generate(x, attention_mask=mask, **kw)
    assert torch.equal(b, a), f"\n{b.tolist()}\n{a.tolist()}"
    if num_beams == 1:  # greedy rows end at eos, then pad; the rest run the whole length
        finished = (b[:, 1:] == eos).any(1)
        assert finished.any() and not finished.all(), b.tolist()
        assert b.shape[1] == 1 + MAX_NEW
        first = (b[:, 1:] == eos).float().argmax(1) + 1
        for row in finished.nonzero().flatten().tolist():
            assert (b[row, first[row] + 1 :] == TOKENS["pad_token_id"]).all(), b.tolist()
