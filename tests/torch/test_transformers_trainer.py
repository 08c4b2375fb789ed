"""transformers' own ``Seq2SeqTrainer`` (the documented bert2bert fine-tuning recipe) on a tiny
warmstart bert2bert: it trains, writes checkpoints (safetensors, which refuses tensors that share
memory: the tied LM head, its bias alias), resumes from one, keeps the best one at the end, and
``save_model`` writes weights that load in warmstart and in transformers with equal logits; with
:class:`warmstart.torch.SaveConfigCallback`, checkpoints and ``output_dir`` are model folders. The
same for a bert2gpt2, whose state dict holds GPT-2's Conv1D weights in transformers' layout.

transformers' Trainer needs ``accelerate``; without it these tests skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers as hf
from safetensors.torch import load_file
from tiny_configs import GPT2_TINY, TINY

from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel, GPT2Config
from warmstart.torch import SaveConfigCallback

pytest.importorskip("accelerate")

IDS = dict(decoder_start_token_id=2, pad_token_id=0)


class Pairs(torch.utils.data.Dataset):
    """Fixed random source/target pairs: (S,) ids and mask, (T,) labels."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(3, 99, (n, 9), generator=g)
        self.y = torch.randint(3, 99, (n, 5), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.x[i]
        return {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": self.y[i]}


def _model(tie: bool = False, decoder: str = "bert") -> EncoderDecoderModel:
    torch.manual_seed(0)
    dec = GPT2Config(**GPT2_TINY) if decoder == "gpt2" else BertConfig(**TINY)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), dec, tie_encoder_decoder=tie, **IDS
    )
    return EncoderDecoderModel(config)


def _trainer(model, folder, **kw) -> hf.Seq2SeqTrainer:
    args = hf.Seq2SeqTrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-3,
        save_strategy="steps",
        save_steps=2,
        logging_steps=100,
        report_to=[],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        **kw,
    )
    return hf.Seq2SeqTrainer(
        model=model, args=args, train_dataset=Pairs(16, 1), eval_dataset=Pairs(8, 2)
    )


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("tie", "decoder"), [(False, "bert"), (True, "bert"), (False, "gpt2")])
def test_checkpoints_and_resume_give_the_uninterrupted_run(tmp_path, tie, decoder):
    """Four steps in one go equal two steps, a checkpoint, and a resumed run of the other two."""
    whole = _model(tie, decoder)
    _trainer(whole, tmp_path / "a", max_steps=4).train()
    checkpoint = tmp_path / "a" / "checkpoint-2"
    saved = load_file(checkpoint / "model.safetensors")
    assert saved.keys() == whole.state_dict().keys()  # every name, each tensor its own memory

    resumed = _model(tie, decoder)
    _trainer(resumed, tmp_path / "a", max_steps=4).train(resume_from_checkpoint=str(checkpoint))
    assert (
        resumed.decoder.get_output_embeddings().weight
        is resumed.decoder.get_input_embeddings().weight
    )
    for (key, a), b in zip(_weights(whole).items(), _weights(resumed).values()):
        assert torch.equal(b, a), key  # bit for bit
    moved = _model(tie, decoder).state_dict()
    assert not all(torch.equal(moved[k], v) for k, v in _weights(whole).items())  # it trained


def _same_logits(folder, model) -> None:
    """``from_pretrained(folder)`` gives ``model``'s logits in warmstart and in transformers."""
    ours = EncoderDecoderModel.from_pretrained(folder)
    theirs = hf.EncoderDecoderModel.from_pretrained(folder).eval()
    x, y = Pairs(3, 3).x, Pairs(3, 3).y
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
        c = model.eval()(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, c)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("decoder", ["bert", "gpt2"])
def test_best_model_at_end_and_save_model_load_in_both_libraries(tmp_path, decoder):
    model = _model(decoder=decoder)
    trainer = _trainer(
        model,
        tmp_path / "run",
        max_steps=6,
        eval_strategy="steps",
        eval_steps=2,
        load_best_model_at_end=True,
        metric_for_best_model="loss",
        greater_is_better=False,
        predict_with_generate=True,  # evaluation also runs our generate
        generation_max_length=6,
    )
    trainer.add_callback(SaveConfigCallback())
    trainer.train()
    best = Path(trainer.state.best_model_checkpoint)
    saved = load_file(best / "model.safetensors")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[key], msg=key)
    _same_logits(best, model)  # a checkpoint is a model folder

    trainer.save_model()  # into output_dir, where the callback wrote the configs
    _same_logits(tmp_path / "run", model)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_type"] == (
        "encoder-decoder"
    )


@pytest.mark.parametrize("decoder", ["bert", "gpt2"])
def test_without_the_callback_save_model_writes_transformers_weights(tmp_path, decoder):
    """The Trainer alone writes the state dict: transformers' names and layout, each tensor once
    in memory."""
    model = _model(decoder=decoder)
    trainer = _trainer(model, tmp_path / "run", max_steps=2)
    trainer.train()
    trainer.save_model(str(tmp_path / "out"))
    assert not (tmp_path / "out" / "config.json").exists()
    config = hf.EncoderDecoderConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    theirs = hf.EncoderDecoderModel(config).eval()
    theirs.load_state_dict(load_file(tmp_path / "out" / "model.safetensors"))  # strictly
    x, y = Pairs(3, 3).x, Pairs(3, 3).y
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = model.eval()(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
