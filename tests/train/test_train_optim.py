"""Optimiser groups, learning-rate schedule, and what one optimiser step computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny import train_args

from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel
from warmstart.cli import main
from warmstart.torch.weights import load_weights
from warmstart.train.optim import (
    build_optimizer,
    build_scheduler,
    clip_gradients,
    linear_schedule,
    param_groups,
)


def test_no_decay_on_biases_and_layer_norms():
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=20,
    )
    model = EncoderDecoderModel(EncoderDecoderConfig.from_encoder_decoder_configs(cfg, cfg))
    decay, keep = param_groups(model, 0.01, lr=1e-3)
    assert decay["weight_decay"] == 0.01 and keep["weight_decay"] == 0.0
    assert "encoder.encoder.layer.0.attention.self.query.weight" in decay["names"]
    assert "encoder.embeddings.word_embeddings.weight" in decay["names"]
    assert "decoder.bert.encoder.layer.0.crossattention.self.key.weight" in decay["names"]
    assert "encoder.encoder.layer.0.attention.self.query.bias" in keep["names"]
    assert "encoder.embeddings.LayerNorm.weight" in keep["names"]
    assert "decoder.bert.encoder.layer.0.output.LayerNorm.weight" in keep["names"]
    assert "decoder.cls.predictions.bias" in keep["names"]
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in keep["params"])
    # every trainable parameter once (the tied output embedding is the input embedding)
    names = decay["names"] + keep["names"]
    assert len(names) == len(set(names)) == len(list(model.parameters()))
    opt = build_optimizer(model, 1e-3, 0.01)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


def test_fused_adamw_takes_the_loop_implementations_steps():
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    torch.manual_seed(0)
    model = EncoderDecoderModel(EncoderDecoderConfig.from_encoder_decoder_configs(cfg, cfg))
    twin = EncoderDecoderModel(model.config)
    twin.load_state_dict(model.state_dict())
    start = model.encoder.embeddings.word_embeddings.weight.detach().clone()
    model.eval(), twin.eval()  # no dropout: the same gradients in both
    fused = build_optimizer(model, 1e-2, 0.01)
    assert all(g["fused"] for g in fused.param_groups)
    loop = torch.optim.AdamW(
        param_groups(twin, 0.01, lr=1e-2), lr=1e-2, eps=1e-8, foreach=False, fused=False
    )
    ids = torch.randint(3, 50, (2, 6))
    for _ in range(3):
        for m, opt in ((model, fused), (twin, loop)):
            m(input_ids=ids, decoder_input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(model.encoder.embeddings.word_embeddings.weight, start)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("max_norm", [0.05, 1e9])
def test_clipping_takes_clip_grad_norms_steps(fused: bool, max_norm: float):
    # a fused AdamW scales the gradients inside its step, any other optimiser before it
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    torch.manual_seed(0)
    model = EncoderDecoderModel(EncoderDecoderConfig.from_encoder_decoder_configs(cfg, cfg))
    twin = EncoderDecoderModel(model.config)
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    opts = [
        torch.optim.AdamW(param_groups(m, 0.01, lr=1e-2), lr=1e-2, fused=fused or None)
        for m in (model, twin)
    ]
    ids = torch.randint(3, 50, (2, 6))
    for _ in range(3):
        norms = []
        for m, opt, ours in ((model, opts[0], True), (twin, opts[1], False)):
            m(input_ids=ids, decoder_input_ids=ids, labels=ids).loss.backward()
            params = [p for p in m.parameters() if p.grad is not None]
            if ours:
                norms.append(clip_gradients(opt, params, max_norm))
            else:
                norms.append(float(torch.nn.utils.clip_grad_norm_(params, max_norm)))
            opt.step()
            opt.zero_grad()
        assert norms[0] == pytest.approx(norms[1], rel=1e-5) and norms[0] > 0.05
        assert (opts[0].grad_scale is not None) == (fused and max_norm < 1)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_new_parameters_get_their_own_learning_rate():
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    model = EncoderDecoderModel(EncoderDecoderConfig.from_encoder_decoder_configs(cfg, cfg))
    new = [n for n, _ in model.named_parameters() if "crossattention" in n]
    groups = param_groups(model, 0.01, lr=1e-4, new_lr=1e-3, new_names=new)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (1e-4, 0.01),
        (1e-3, 0.01),
        (1e-4, 0.0),
        (1e-3, 0.0),
    ]
    fresh = {n for g in groups if g["lr"] == 1e-3 for n in g["names"]}
    assert fresh == set(new)
    assert len(param_groups(model, 0.01, lr=1e-4, new_names=new)) == 2  # no new_lr: one rate


def test_linear_schedule_values():
    values = [linear_schedule(s, warmup_steps=4, total_steps=12) for s in range(14)]
    assert values == pytest.approx(
        [0, 0.25, 0.5, 0.75, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0, 0]
    )
    assert linear_schedule(0, 0, 10) == 1.0  # no warm-up: start at the peak
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([param], lr=0.1)
    sched = build_scheduler(opt, 4, 12)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0, 0.025, 0.05, 0.075, 0.1, 0.0875])


def _losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


def test_loss_falls_when_overfitting_a_tiny_batch(tmp_path: Path, bert_nodrop_dir: Path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {
            "source": "mary went home . mary was tired .",
            "target": "mary went home because she was tired .",
        },
        {
            "source": "tom was hungry . tom made a sandwich .",
            "target": "tom was hungry , so he made a sandwich .",
        },
    ]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    main(
        train_args(
            bert_nodrop_dir,
            data,
            out,
            "--max-steps",
            "40",
            "--log-every",
            "1",
            "--batch-size",
            "2",
            "--lr",
            "1e-2",
        )
    )
    losses = _losses(out)
    assert len(losses) == 40
    assert losses[-1] < 0.1 * losses[0], losses


@pytest.mark.parametrize(("batch", "accum"), [(4, 2), (2, 4)])
def test_gradient_accumulation_equals_the_large_batch(
    tmp_path, bert_nodrop_dir, data_dir, batch, accum
):
    steps = ["--max-steps", "3", "--log-every", "1", "--max-grad-norm", "0"]
    main(train_args(bert_nodrop_dir, data_dir, tmp_path / "big", "--batch-size", "8", *steps))
    main(
        train_args(
            bert_nodrop_dir,
            data_dir,
            tmp_path / "acc",
            "--batch-size",
            str(batch),
            "--grad-accum",
            str(accum),
            *steps,
        )
    )
    assert _losses(tmp_path / "acc") == pytest.approx(_losses(tmp_path / "big"), rel=1e-5)
    big, acc = load_weights(tmp_path / "big" / "model"), load_weights(tmp_path / "acc" / "model")
    for name, tensor in big.items():
        torch.testing.assert_close(acc[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    moved = load_weights(Path(bert_nodrop_dir))["encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(big["encoder.encoder.layer.0.attention.self.query.weight"], moved)


def test_bf16_autocast_and_gradient_checkpointing_train(tmp_path, bert_dir, data_dir):
    out = tmp_path / "out"
    main(
        train_args(
            bert_dir,
            data_dir,
            out,
            "--bf16",
            "--gradient-checkpointing",
            "--log-every",
            "1",
            "--max-steps",
            "3",
        )
    )
    losses = _losses(out)
    assert len(losses) == 3 and all(0 < loss < 20 for loss in losses)
