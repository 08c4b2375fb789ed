"""Large buffers that reuse their memory (``speed.recycled``) and the kernels that take them:
a buffer is handed out again only when nothing uses it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from warmstart.torch.speed import Embedding, recycled

BIG = (recycled.MIN_BYTES // 4 // 64 * 2, 64)  # float32, twice the threshold


@pytest.fixture(autouse=True)
def _fresh_pool():
    recycled.release()
    yield
    recycled.release()


def test_small_tensors_are_allocated_as_usual():
    a = recycled.empty((4, 4))
    del a
    assert recycled._kept == []


def test_a_dead_buffer_is_reused_and_a_live_one_never():
    a = recycled.empty(BIG)
    pointer = a.data_ptr()
    a.fill_(1.0)
    b = recycled.empty(BIG)  # a is alive: a new buffer
    assert b.data_ptr() != pointer
    assert bool((a == 1.0).all())
    view = a[:1]
    del a
    c = recycled.empty(BIG)  # a view of a still uses its memory
    assert c.data_ptr() not in (pointer, b.data_ptr())
    freed = c.data_ptr()
    del view, c
    d = recycled.empty((BIG[0] - 1, BIG[1]))  # a smaller request takes a kept, unused buffer
    assert d.data_ptr() in (pointer, freed)
    assert recycled.zeros(BIG).abs().sum() == 0


def test_at_most_kept_buffers_stay():
    live = [recycled.empty(BIG) for _ in range(recycled.KEPT + 2)]
    assert len(recycled._kept) == recycled.KEPT  # the rest were in use: not kept
    del live
    recycled.empty((BIG[0] * 2, BIG[1]))  # none fits: a free one makes room
    assert len(recycled._kept) == recycled.KEPT


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_gradient_equals_nn_embedding(padding_idx):
    torch.manual_seed(0)
    ours, theirs = Embedding(12, 5, padding_idx=padding_idx), torch.nn.Embedding(12, 5)
    theirs.load_state_dict(ours.state_dict())
    theirs.padding_idx = ours.padding_idx
    ids = torch.tensor([[0, 3, 3, 11], [11, 0, 2, 3]])
    up = torch.randn(2, 4, 5)
    for module in (ours, theirs):
        (module(ids) * up).sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)
    assert repr(ours) == repr(theirs) and isinstance(ours, torch.nn.Embedding)


def test_embedding_gradient_memory_is_reused_after_zero_grad_and_not_before():
    table = Embedding(recycled.MIN_BYTES // 4 // 8, 8)
    ids = torch.tensor([[1, 2, 3]])
    table(ids).sum().backward()
    first, pointer = table.weight.grad, table.weight.grad.data_ptr()
    table.weight.grad = None
    table(ids).sum().backward()  # the old gradient is still held (first): not overwritten
    assert table.weight.grad.data_ptr() != pointer and float(first.sum()) == 24.0
    del first
    table.weight.grad = None
    table(ids).sum().backward()
    table.weight.grad = None
    table(ids).sum().backward()
    assert float(table.weight.grad.sum()) == 24.0


def test_embedding_without_grad_or_with_torch_options_is_nn_embedding():
    table = Embedding(10, 4, max_norm=1.0)
    ids = torch.tensor([1, 2])
    with torch.no_grad():
        torch.testing.assert_close(table(ids), F.embedding(ids, table.weight))
    assert table(ids).grad_fn.name() == "EmbeddingBackward0"


def test_embedding_built_on_meta_draws_nothing(monkeypatch):
    drawn = []
    monkeypatch.setattr(torch.nn.init, "normal_", lambda t, *a, **k: drawn.append(t.shape) or t)
    with torch.device("meta"):
        Embedding(30, 4)
    assert drawn == []
    Embedding(30, 4)
    assert drawn == [(30, 4)]


def _tied_step(emb: Embedding, ids: torch.Tensor, other_use: bool) -> torch.Tensor:
    """An embedding whose weight is also the output projection (a tied LM head); with
    ``other_use``, a third use of the weight whose gradient autograd meets first."""
    from warmstart.torch.speed.products import linear

    emb.weight.grad = None
    h = torch.tanh(emb(ids))
    if other_use:
        h = h + F.embedding(ids, emb.weight)
    linear(h, emb.weight).sum().backward()
    return emb.weight.grad


@pytest.mark.parametrize("other_use", [False, True])
def test_a_tied_head_and_embedding_share_one_gradient(monkeypatch, other_use):
    # the embedding adds its rows into the head's weight gradient instead of handing autograd a
    # second large tensor; when autograd has already summed the head's with another use's, it
    # hands its own over
    torch.manual_seed(0)
    emb = Embedding(BIG[0], BIG[1], padding_idx=0)
    ids = torch.randint(0, BIG[0], (3, 7))
    ids[0, -2:] = 0
    taken = []
    offered = recycled.offered_gradient
    monkeypatch.setattr(
        recycled, "offered_gradient", lambda *a: taken.append(offered(*a)) or taken[-1]
    )
    for _ in range(2):  # the second time the buffers are reused
        grad = _tied_step(emb, ids, other_use).clone()
        with monkeypatch.context() as m:
            m.setattr(recycled, "offered_gradient", lambda *a: None)  # autograd sums the two
            summed = _tied_step(emb, ids, other_use)
        # the same sums, added in another order (magnitudes reach about 400)
        torch.testing.assert_close(grad, summed, rtol=1e-5, atol=1e-4)
    assert [t is not None for t in taken] == [not other_use] * 2
    plain = emb.weight.detach().clone().requires_grad_()
    h = torch.tanh(F.embedding(ids, plain, padding_idx=0))
    if other_use:
        h = h + F.embedding(ids, plain)
    F.linear(h, plain).sum().backward()
    assert bool(((grad - plain.grad).abs() <= 1e-3 + 1e-5 * plain.grad.abs()).all())


def test_an_offer_from_an_earlier_backward_is_not_taken():
    w = torch.zeros(BIG)
    recycled.offer_gradient(w, torch.ones(BIG))
    assert recycled.offered_gradient(w.data_ptr(), w.shape) is None  # not inside that backward
    grad = torch.ones(BIG)
    recycled.offer_gradient(w, grad)
    del grad
    assert recycled.offered_gradient(w.data_ptr(), w.shape) is None
