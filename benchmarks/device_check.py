"""Check warmstart on an accelerator against transformers' EncoderDecoderModel, as a user runs it.

Models are built on the CPU and moved with ``.to(device)``; inputs are moved with ``.to(device)``
(never ``torch.set_default_device``, which would hide a tensor the library creates on the wrong
device). Every model is tiny and random, except the timing model, a random bert2bert of MiniLM's
shape: nothing is downloaded and no checkpoint package is needed. Each check compares warmstart
with transformers on the same device with the same weights:

- ``forward/<pairing>``: logits, loss and the gradients of a few named parameters (encoder
  embeddings, a decoder cross-attention weight, the LM head), fp32, for bert2bert, bert2gpt2,
  roberta2roberta, bert2bart and bart2bart on a padded batch;
- ``generate/<pairing>``: greedy and beam-4 token ids identical, rows ending at different steps;
- ``generate/<case>`` on a tiny bert2bert, a padded batch of 3: greedy, beam search (and its
  scores), no-repeat n-grams, min length with repetition penalty; seeded sampling runs (in range,
  on the device, reproducible; whether its draw equals transformers' is reported);
- ``device/placement``: every parameter, buffer and tensor attribute on the device after
  ``.to(device)``, and every output (logits, loss, cache, generate's tensors) there too;
- ``bf16/greedy``: both libraries in bfloat16; the share of identical tokens is reported, only an
  exception or garbage (every token pad, ids out of range) fails;
- ``compile/decoder`` and ``compile/encoder`` (``--skip-compile`` drops them): warmstart's
  ``torch.compile`` paths give the eager tokens and encoder states; compile seconds noted;
- ``save/from-device``: ``save_pretrained`` of a bert2gpt2 on the device, loaded by both libraries
  on the CPU, gives the device model's weights and logits;
- ``timing/<figure>`` (``--skip-timing`` drops them): the MiniLM-shaped bert2bert in fp32, greedy
  and beam-4 ms per step at batch 1 and greedy at batch 32 (64 new tokens, eos off), training
  tokens/s at 8 x (128 + 64); medians after a warm-up, the libraries interleaved. Timings are
  information only: a timing check fails only if a run raises.

``setup/device`` runs first; without a working device nothing else runs. A warning from warmstart
that names a device, or any warning about tensors on different devices, fails the check it happens
in. TF32 is switched off (``torch.backends.cuda.matmul.allow_tf32`` and
``torch.backends.cudnn.allow_tf32``) so that fp32 on CUDA is compared at fp32 tolerances. Each
check runs in its own try/except; the table is printed at the end and the JSON (``--output``) is
rewritten after every check, so a run cut short keeps what it did. The exit status is 1 if any
check failed. ``--only REGEX`` runs a subset.

    PYTHONPATH=. python3 benchmarks/device_check.py --device cuda --output device.json
    PYTHONPATH=. python3 benchmarks/device_check.py --device cpu --quick --skip-timing
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import transformers as hf
from transformers.modeling_outputs import BaseModelOutput

import warmstart
import warmstart.config as ws
from warmstart import EncoderDecoderConfig, EncoderDecoderModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import interleaved, train_fn  # the bench's timing, with a device sync
from tiny_configs import BART_TINY, GPT2_TINY, TINY, WIDE, randomize_  # the tests' tiny configs

# ----------------------------------------------------------------------------------- models
MINILM = dict(
    vocab_size=30522,
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=12,
    intermediate_size=1536,
    max_position_embeddings=512,
)
VOCAB = 99
PAIR_IDS = dict(decoder_start_token_id=2, pad_token_id=1)  # eos is picked per pairing
GEN_IDS = dict(decoder_start_token_id=2, pad_token_id=0)  # eos is picked, see GenPair
MINILM_IDS = dict(decoder_start_token_id=101, pad_token_id=0, eos_token_id=102)

# name -> (encoder family, its kwargs), (decoder family, its kwargs)
PAIRINGS = {
    "bert2bert": (("Bert", TINY), ("Bert", TINY)),
    "bert2gpt2": (("Bert", WIDE), ("GPT2", GPT2_TINY)),
    "roberta2roberta": (("Roberta", TINY), ("Roberta", TINY)),
    "bert2bart": (("Bert", TINY), ("Bart", BART_TINY)),
    "bart2bart": (("Bart", BART_TINY), ("Bart", BART_TINY)),
}
# a decoder's cross-attention output projection, in every family
CROSS_OUT = re.compile(
    r"^decoder\..*(crossattention\.output\.dense|crossattention\.c_proj|encoder_attn\.out_proj)"
    r"\.weight$"
)
MAX_NEW = 12


def hf_model(
    encoder: tuple[str, dict], decoder: tuple[str, dict], ids: dict
) -> hf.EncoderDecoderModel:
    """A transformers encoder-decoder from two (family, kwargs) pairs, in eval mode on the CPU."""
    configs = [getattr(hf, family + "Config")(**kw) for family, kw in (encoder, decoder)]
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(*configs)
    for key, value in ids.items():
        setattr(config, key, value)
    return hf.EncoderDecoderModel(config).eval()


def pair_from(theirs: hf.EncoderDecoderModel, folder: Path) -> EncoderDecoderModel:
    """Ours with transformers' weights: saved by transformers, loaded by warmstart."""
    theirs.save_pretrained(folder)
    return EncoderDecoderModel.from_pretrained(folder)


def pairing(name: str, folder: Path) -> tuple[hf.EncoderDecoderModel, EncoderDecoderModel]:
    """A random tiny pairing in both libraries, the cross-attention made loud enough that the
    decoder reads the encoder (random tiny decoders barely do)."""
    torch.manual_seed(0)
    theirs = randomize_(hf_model(*PAIRINGS[name], PAIR_IDS))
    with torch.no_grad():
        for param_name, param in theirs.named_parameters():
            if CROSS_OUT.search(param_name):
                param.mul_(10)
    return theirs, pair_from(theirs, folder / name)


def tiny_bert2bert(folder: Path) -> tuple[hf.EncoderDecoderModel, EncoderDecoderModel]:
    """A tiny bert2bert whose decoder reads the encoder."""
    torch.manual_seed(0)
    theirs = randomize_(hf_model(("Bert", TINY), ("Bert", TINY), GEN_IDS))
    with torch.no_grad():
        for layer in theirs.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
    return theirs, pair_from(theirs, folder / "bert2bert-gen")


@dataclass
class GenPair:
    """The tiny bert2bert in both libraries on the device, and the token ids to generate with:
    eos is a token that ends some rows of the padded source early and not others (weights, hence
    tokens, depend on the transformers version that initialised them)."""

    theirs: hf.EncoderDecoderModel
    ours: EncoderDecoderModel
    ids: dict

    @classmethod
    def make(cls, folder: Path, device: torch.device) -> GenPair:
        theirs, ours = tiny_bert2bert(folder)
        theirs, ours = theirs.to(device), ours.to(device)
        x, mask = (t.to(device) for t in source(GEN_IDS["pad_token_id"]))
        free = ours.generate(x, attention_mask=mask, max_new_tokens=MAX_NEW, eos_token_id=None)
        eos = pick_eos(free, set(GEN_IDS.values()))
        return cls(theirs, ours, dict(GEN_IDS, eos_token_id=eos))


# ----------------------------------------------------------------------------------- inputs
def padded_batch(pad: int, B: int = 3, S: int = 11, T: int = 7):
    """Source ids right-padded to different lengths, their mask, labels with -100 padding (CPU)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(3, VOCAB, (B, S), generator=g)
    mask = torch.ones_like(x)
    for row in range(1, B):
        mask[row, S - 3 * row :] = 0
    y = torch.randint(3, VOCAB, (B, T), generator=g)
    y[1:, T - 2 :] = -100
    return x.masked_fill(mask == 0, pad), mask, y


def source(pad: int, B: int = 3, S: int = 10, seed: int = 1):
    """Rows that differ a lot (few distinct tokens each), right-padded to different lengths."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, VOCAB, (B, 1), generator=g).repeat(1, S)
    x[:, ::3] = torch.randint(4, VOCAB, (B, len(range(0, S, 3))), generator=g)
    mask = torch.ones_like(x)
    for row in range(1, B):
        mask[row, S - 2 * row :] = 0
    return x.masked_fill(mask == 0, pad), mask


def their_generate(theirs: hf.EncoderDecoderModel, x, mask, **kw) -> Any:
    """transformers' generate; a BART encoder is run first (transformers 5 fails on BartModel's
    output inside EncoderDecoderModel, fed the BART encoder's states it runs)."""
    if isinstance(theirs.encoder, hf.BartModel):
        enc = theirs.encoder.encoder(input_ids=x, attention_mask=mask).last_hidden_state
        return theirs.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=enc), attention_mask=mask, **kw
        )
    return theirs.generate(x, attention_mask=mask, **kw)


def their_forward(theirs: hf.EncoderDecoderModel, x, mask, y) -> Any:
    if isinstance(theirs.encoder, hf.BartModel):  # as in their_generate
        enc = theirs.encoder.encoder(input_ids=x, attention_mask=mask).last_hidden_state
        return theirs(encoder_outputs=(enc,), attention_mask=mask, labels=y)
    return theirs(input_ids=x, attention_mask=mask, labels=y)


# ----------------------------------------------------------------------------------- asserts
def on_device(device: torch.device, **tensors: torch.Tensor | None) -> None:
    for name, t in tensors.items():
        if t is not None and t.device.type != device.type:
            raise AssertionError(f"{name} is on {t.device}, not on {device}")


def same_tokens(ours: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    """Token ids equal, or an error naming the first row and step that differ."""
    if ours.shape == theirs.shape and torch.equal(ours.cpu(), theirs.cpu()):
        return
    a, b = ours.cpu(), theirs.cpu()
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes {tuple(a.shape)} (ours) != {tuple(b.shape)}")
    row, col = (a != b).nonzero()[0].tolist()
    raise AssertionError(
        f"{what}: tokens differ first at row {row}, step {col}:\n"
        f"  ours   {a[row].tolist()}\n  theirs {b[row].tolist()}"
    )


def close(ours: torch.Tensor, theirs: torch.Tensor, what: str, atol: float, rtol: float) -> float:
    """``assert_close`` on the CPU with ``what`` in the message; returns the max abs difference."""
    a, b = ours.detach().float().cpu(), theirs.detach().float().cpu()
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")
    return (a - b).abs().max().item()


def laid_out_like(ours: torch.Tensor, theirs: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Our gradient laid out as transformers' parameter: its GPT-2 Conv1D weights are stored
    transposed (told apart by shape, or for square ones by value)."""
    if ours.shape != theirs.shape or (
        not torch.equal(ours, theirs) and torch.equal(ours.T, theirs)
    ):
        return grad.T
    return grad


def pick_eos(sequences: torch.Tensor, special: set[int]) -> int | None:
    """A token greedy decoding emits in some rows but not all: as eos it ends those rows early
    and leaves the others running. None if every row decodes alike."""
    rows = [set(row[1:].tolist()) for row in sequences.cpu()]
    for token in sequences[:, 1:].T.flatten().tolist():  # earliest steps first
        if token not in special and 0 < sum(token in r for r in rows) < len(rows):
            return token
    return None


# ----------------------------------------------------------------------------------- running
@dataclass
class Result:
    name: str
    status: str  # "pass" or "fail"
    seconds: float
    detail: str = ""
    error: str = ""
    traceback: str = ""


@dataclass
class TimingRow:
    figure: str
    unit: str
    warmstart: float
    transformers: float
    note: str = ""

    @property
    def ratio(self) -> float:
        """How many times faster warmstart is (above 1: faster)."""
        if self.unit == "tokens/s":
            return self.warmstart / self.transformers
        return self.transformers / self.warmstart


def _ours(filename: str) -> bool:
    return Path(warmstart.__file__).parent in Path(filename).parents


def device_complaint(text: str, ours: bool) -> bool:
    """A warning about devices that fails a check: any from warmstart that names a device, and any
    that says tensors are on different devices."""
    if "device" not in text.lower():
        return False
    return ours or bool(re.search(r"mismatch|differ|same device|expected all", text, re.I))


class _LogCapture(logging.Handler):
    """Collects warnings logged by warmstart as (True, text)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[tuple[bool, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((True, f"{record.name}: {record.getMessage()}"))


class Runner:
    """Runs checks one by one, each in its own try/except, and writes the JSON after each."""

    def __init__(self, args: argparse.Namespace, device: torch.device, env: dict) -> None:
        self.args, self.device, self.env = args, device, env
        self.results: list[Result] = []
        self.timings: list[TimingRow] = []

    def check(self, name: str, fn: Callable[[], str], always: bool = False) -> None:
        """Run ``fn`` (which returns a detail line) as check ``name``; record, print, write.
        Warnings raised meanwhile are judged (:func:`device_complaint`) and shown with a failure."""
        if self.args.only and not always and not re.search(self.args.only, name):
            return
        start = time.perf_counter()
        log = _LogCapture()
        logging.getLogger("warmstart").addHandler(log)
        said: list[tuple[bool, str]] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    detail = fn() or ""
                    self.sync()
                finally:
                    said += [
                        (_ours(w.filename), f"{w.category.__name__}: {w.message}") for w in caught
                    ]
                    said += log.messages
            bad = [text for mine, text in said if device_complaint(text, mine)]
            if bad:
                raise AssertionError("device warning: " + " | ".join(dict.fromkeys(bad)))
            noted = [text for mine, text in said if mine or "device" in text.lower()]
            if noted:
                detail += "; warnings: " + " | ".join(dict.fromkeys(noted))[:300]
            result = Result(name, "pass", time.perf_counter() - start, detail)
        except Exception as error:
            tail = traceback.format_exc().strip().splitlines()[-12:]
            message = f"{type(error).__name__}: {error}"
            ours = [text for mine, text in said if mine]
            if ours:  # a fallback's reason, say
                message += "\nwarnings from warmstart: " + " | ".join(dict.fromkeys(ours))
            result = Result(name, "fail", time.perf_counter() - start, "", message, "\n".join(tail))
        finally:
            logging.getLogger("warmstart").removeHandler(log)
        self.results.append(result)
        line = (result.detail or result.error or " ").splitlines()[0]
        print(f"{result.status.upper():4} {name:28} {result.seconds:7.2f} s  {line[:140]}")
        sys.stdout.flush()
        self.write()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def failed(self) -> list[str]:
        return [r.name for r in self.results if r.status != "pass"]

    def write(self) -> None:
        if not self.args.output:
            return
        data = {
            "environment": self.env,
            "settings": dict(vars(self.args)),
            "passed": not self.failed(),
            "failed": self.failed(),
            "checks": [asdict(r) for r in self.results],
            "timing": [asdict(t) | {"ratio": t.ratio} for t in self.timings],
        }
        output = Path(self.args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(data, indent=2) + "\n")


# ----------------------------------------------------------------------------------- checks
def check_forward(name: str, folder: Path, device: torch.device) -> str:
    """Logits, loss and gradients of named parameters, ours against transformers, on ``device``."""
    theirs, ours = pairing(name, folder)
    theirs, ours = theirs.to(device), ours.to(device)
    x, mask, y = (t.to(device) for t in padded_batch(PAIR_IDS["pad_token_id"]))
    a = their_forward(theirs, x, mask, y)
    b = ours(input_ids=x, attention_mask=mask, labels=y)
    on_device(device, logits=b.logits, loss=b.loss)
    logit_diff = close(b.logits, a.logits, "logits", 1e-4, 1e-4)
    close(b.loss, a.loss, "loss", 1e-4, 1e-4)
    a.loss.backward()
    b.loss.backward()
    cross = next(n for n, _ in theirs.named_parameters() if CROSS_OUT.search(n))
    mine = dict(ours.named_parameters())
    params = {
        "encoder embeddings": (
            theirs.get_input_embeddings().weight,
            ours.get_input_embeddings().weight,
        ),
        cross: (theirs.get_parameter(cross), mine[cross]),
        "LM head": (theirs.get_output_embeddings().weight, ours.get_output_embeddings().weight),
    }
    worst = 0.0
    for what, (p, q) in params.items():
        if p.grad is None or q.grad is None:
            have = f"theirs {p.grad is not None}, ours {q.grad is not None}"
            raise AssertionError(f"no gradient for {what} ({have})")
        on_device(device, **{f"grad of {what}": q.grad})
        g = laid_out_like(q, p, q.grad)
        scale = p.grad.abs().max().item()
        worst = max(worst, close(g, p.grad, f"grad of {what}", 1e-4 * scale + 1e-6, 1e-3) / scale)
    return f"max logit diff {logit_diff:.1e}; grads of {len(params)} params, max rel {worst:.1e}"


def check_pairing_generate(name: str, folder: Path, device: torch.device) -> str:
    """Greedy and beam-4 tokens equal, with an eos that ends some rows early."""
    theirs, ours = pairing(name, folder)
    theirs, ours = theirs.to(device), ours.to(device)
    x, mask = (t.to(device) for t in source(PAIR_IDS["pad_token_id"], B=4, S=9))
    free = ours.generate(x, attention_mask=mask, max_new_tokens=MAX_NEW, eos_token_id=None)
    eos = pick_eos(free, set(PAIR_IDS.values()))
    ended = []
    for beams in (1, 4):
        kw = dict(max_new_tokens=MAX_NEW, num_beams=beams, do_sample=False, eos_token_id=eos)
        b = ours.generate(x, attention_mask=mask, **kw)
        on_device(device, sequences=b)
        same_tokens(b, their_generate(theirs, x, mask, **PAIR_IDS, **kw), f"beams={beams}")
        ended.append(0 if eos is None else int((b == eos).any(1).sum()))
    return f"eos {eos}: rows ended greedy {ended[0]}/4, beam {ended[1]}/4; tokens equal"


GEN_CASES = {
    "greedy": dict(max_new_tokens=MAX_NEW),
    "beam4": dict(max_new_tokens=MAX_NEW, num_beams=4),
    "no_repeat_ngram": dict(max_new_tokens=MAX_NEW, num_beams=4, no_repeat_ngram_size=2),
    "mixed": dict(max_new_tokens=MAX_NEW, min_length=8, repetition_penalty=1.3, num_beams=2),
}


def check_generate_case(pair: GenPair, case: str, device: torch.device) -> str:
    x, mask = (t.to(device) for t in source(GEN_IDS["pad_token_id"]))
    kw = dict(return_dict_in_generate=True, output_scores=True, **pair.ids, **GEN_CASES[case])
    a = pair.theirs.generate(x, attention_mask=mask, **kw)
    b = pair.ours.generate(x, attention_mask=mask, **kw)
    on_device(device, sequences=b.sequences, sequences_scores=b.sequences_scores)
    same_tokens(b.sequences, a.sequences, case)
    note = ""
    if kw.get("num_beams", 1) > 1:
        diff = close(b.sequences_scores, a.sequences_scores, "sequences_scores", 1e-4, 1e-4)
        note = f"; sequences_scores max diff {diff:.1e}"
    ended = int((b.sequences[:, 1:] == pair.ids["eos_token_id"]).any(1).sum())
    return f"shape {tuple(b.sequences.shape)}, rows ended {ended}/3; tokens equal{note}"


def check_sample(pair: GenPair, device: torch.device) -> str:
    """Seeded sampling runs on the device, from the global seed and from a ``torch.Generator`` on
    the device; whether the draw equals transformers' is reported, not required."""
    x, mask = (t.to(device) for t in source(GEN_IDS["pad_token_id"]))
    kw = dict(do_sample=True, top_k=20, top_p=0.9, max_new_tokens=MAX_NEW, num_return_sequences=2)
    kw |= pair.ids
    draws = []
    for lib in (pair.ours, pair.ours, pair.theirs):
        torch.manual_seed(7)
        draws.append(lib.generate(x, attention_mask=mask, **kw))
    for _ in range(2):
        generator = torch.Generator(device).manual_seed(7)
        draws.append(pair.ours.generate(x, attention_mask=mask, generator=generator, **kw))
    b, again, a, own, own_again = draws
    for name, out in (("global seed", b), ("device generator", own)):
        on_device(device, **{name: out})
        if out.shape[0] != 6 or not 1 < out.shape[1] <= 1 + MAX_NEW:
            raise AssertionError(
                f"{name}: shape {tuple(out.shape)}, expected (6, 2..{1 + MAX_NEW})"
            )
        if int(out.min()) < 0 or int(out.max()) >= VOCAB:
            raise AssertionError(f"{name}: ids out of range [0, {VOCAB}): {out.tolist()}")
        if not (out[:, 0] == GEN_IDS["decoder_start_token_id"]).all():
            raise AssertionError(f"{name}: rows do not start with the start token: {out.tolist()}")
    if not torch.equal(b, again) or not torch.equal(own, own_again):
        raise AssertionError("the same seed gave another draw")
    same = a.shape == b.shape and torch.equal(a, b)
    return f"shape {tuple(b.shape)}, reproducible; identical to transformers' draw: {same}"


def tensor_attributes(model: torch.nn.Module):
    """(name, tensor) for parameters, buffers and plain tensor attributes of every submodule."""
    for prefix, module in model.named_modules():
        for key, value in vars(module).items():
            if isinstance(value, torch.Tensor):
                yield f"{prefix}.{key}", value
    yield from model.named_parameters()
    yield from model.named_buffers()


def check_placement(pair: GenPair, device: torch.device) -> str:
    ours = pair.ours
    left = [n for n, t in tensor_attributes(ours) if t.device.type != device.type]
    if left:
        raise AssertionError(f"left off {device} after .to(): {left[:8]}")
    x, mask, y = (t.to(device) for t in padded_batch(GEN_IDS["pad_token_id"]))
    with torch.no_grad():
        out = ours(input_ids=x, attention_mask=mask, labels=y, use_cache=True)
    on_device(
        device,
        logits=out.logits,
        loss=out.loss,
        encoder_last_hidden_state=out.encoder_last_hidden_state,
        cache=getattr(out.past_key_values, "kv", None),
    )
    seq = ours.generate(x, max_new_tokens=4)  # mask inferred from the pad id
    res = ours.generate(
        x, attention_mask=mask, num_beams=2, max_new_tokens=4, return_dict_in_generate=True
    )
    on_device(device, generate=seq, sequences=res.sequences, sequences_scores=res.sequences_scores)
    on_device(device, **{f"scores[{i}]": s for i, s in enumerate(res.scores or [])})
    return "parameters, buffers, tensor attributes, forward and generate outputs on the device"


def check_bf16(pair: GenPair, folder: Path, device: torch.device) -> str:
    """Greedy tokens in bfloat16, both libraries: share identical reported, garbage fails."""
    theirs, ours = tiny_bert2bert(folder / "bf16")  # fresh copies: the shared pair stays fp32
    theirs, ours = theirs.to(device).to(torch.bfloat16), ours.to(device).to(torch.bfloat16)
    x, mask = (t.to(device) for t in source(GEN_IDS["pad_token_id"]))
    kw = dict(max_new_tokens=MAX_NEW, **pair.ids)
    b = ours.generate(x, attention_mask=mask, **kw)
    a = theirs.generate(x, attention_mask=mask, **kw)
    fp32 = pair.ours.generate(x, attention_mask=mask, **kw)
    on_device(device, sequences=b)
    if int(b.min()) < 0 or int(b.max()) >= VOCAB:
        raise AssertionError(f"ids out of range [0, {VOCAB}): {b.tolist()}")
    if (b[:, 1:] == GEN_IDS["pad_token_id"]).all():
        raise AssertionError(f"every generated token is pad: {b.tolist()}")
    if ours.dtype != torch.bfloat16:
        raise AssertionError(f"model dtype {ours.dtype} after .to(torch.bfloat16)")

    def share(p: torch.Tensor, q: torch.Tensor) -> str:
        n = min(p.shape[1], q.shape[1])
        return f"{(p[:, :n] == q[:, :n]).float().mean().item():.0%}"

    return (
        f"identical tokens: to transformers bf16 {share(b, a)}, to our fp32 {share(b, fp32)}; "
        f"transformers bf16 to fp32 {share(a, fp32)}"
    )


def check_save(folder: Path, device: torch.device) -> str:
    """A model on the device saved, loaded by both libraries on the CPU: the same logits."""
    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**WIDE), ws.GPT2Config(**GPT2_TINY), **PAIR_IDS
    )
    ours = randomize_(EncoderDecoderModel(config)).eval().to(device)
    x, mask, y = padded_batch(PAIR_IDS["pad_token_id"])
    with torch.no_grad():
        want = ours(input_ids=x.to(device), attention_mask=mask.to(device), labels=y.to(device))
    ours.save_pretrained(folder / "saved")
    again = EncoderDecoderModel.from_pretrained(folder / "saved")
    theirs, info = hf.EncoderDecoderModel.from_pretrained(
        folder / "saved", output_loading_info=True
    )
    if any(info.values()):
        raise AssertionError(f"transformers' loading info: {info}")
    for key, value in ours.state_dict().items():
        if not torch.equal(value.cpu(), again.state_dict()[key]):
            raise AssertionError(f"{key} changed in the round trip")
    with torch.no_grad():
        mine = again(input_ids=x, attention_mask=mask, labels=y)
        hers = theirs.eval()(input_ids=x, attention_mask=mask, labels=y)
    d1 = close(mine.logits, want.logits, "reloaded logits (CPU vs device)", 1e-4, 1e-4)
    d2 = close(hers.logits, want.logits, "transformers' logits (CPU vs device)", 1e-4, 1e-4)
    close(hers.loss, want.loss, "transformers' loss", 1e-4, 1e-4)
    return f"weights equal after the round trip; logits vs device: ours {d1:.1e}, theirs {d2:.1e}"


def counted(holder: Any) -> list:
    """Count calls of ``holder.compiled`` (the compiled graph), appending to the list returned."""
    calls, real = [], holder.compiled
    holder.compiled = lambda *a: calls.append(1) or real(*a)
    return calls


def check_compile_decoder(folder: Path, device: torch.device) -> str:
    """Compiled greedy and beam tokens equal eager ones; the compiled step must really run."""
    _, eager = tiny_bert2bert(folder / "eager")
    _, fast = tiny_bert2bert(folder / "fast")
    eager, fast = eager.to(device), fast.to(device)
    fast.compile_decoder()
    calls = counted(fast.compiled_step)
    x, _ = (t.to(device) for t in source(GEN_IDS["pad_token_id"], B=1))
    notes = []
    for beams in (1, 4):
        kw = dict(max_new_tokens=MAX_NEW, num_beams=beams)
        start = time.perf_counter()
        first = fast.generate(x, **kw)
        compile_s = time.perf_counter() - start
        want = eager.generate(x, **kw)
        same_tokens(first, want, f"compiled beams={beams}")
        on_device(device, sequences=first)
        x2, _ = (t.to(device) for t in source(GEN_IDS["pad_token_id"], B=1, S=8, seed=2))
        same_tokens(fast.generate(x2, **kw), eager.generate(x2, **kw), f"again, beams={beams}")
        notes.append(f"beams={beams} first decode {compile_s:.1f} s")
    if fast.compiled_step.failed:
        raise AssertionError("the compiled step failed and fell back to eager decoding")
    if not calls:
        raise AssertionError("the compiled step never ran")
    return "; ".join(notes) + f"; {len(calls)} compiled steps, tokens equal eager"


def check_compile_encoder(folder: Path, device: torch.device) -> str:
    _, model = tiny_bert2bert(folder / "encoder")
    model = model.to(device)
    x, mask = (t.to(device) for t in source(GEN_IDS["pad_token_id"]))
    with torch.no_grad():
        want = model.encode(x, mask).last_hidden_state
    tokens = model.generate(x, attention_mask=mask, max_new_tokens=MAX_NEW)
    model.compile_encoder()
    calls = counted(model.compiled_encoder)
    start = time.perf_counter()
    with torch.no_grad():
        got = model.encode(x, mask).last_hidden_state
    compile_s = time.perf_counter() - start
    on_device(device, encoder_states=got)
    diff = close(got, want, "compiled encoder states", 1e-5, 1e-5)
    same_tokens(model.generate(x, attention_mask=mask, max_new_tokens=MAX_NEW), tokens, "tokens")
    if model.compiled_encoder.failed or not calls:
        raise AssertionError("the compiled encoder did not run (failed or fell back)")
    return f"first call {compile_s:.1f} s; states max diff {diff:.1e}; tokens equal eager"


# ----------------------------------------------------------------------------------- timing
class Timing:
    """The MiniLM-shaped random bert2bert in both libraries, made on first use."""

    def __init__(self, runner: Runner, folder: Path) -> None:
        self.runner, self.folder = runner, folder
        self.pair: tuple[EncoderDecoderModel, hf.EncoderDecoderModel] | None = None
        args = runner.args
        self.repeats = args.repeats or (2 if args.quick else 3)
        self.steps = 8 if args.quick else 64
        self.batch = 4 if args.quick else 32
        self.train_batch = 2 if args.quick else 8

    def models(self) -> tuple[EncoderDecoderModel, hf.EncoderDecoderModel]:
        if self.pair is None:
            torch.manual_seed(0)
            ours = EncoderDecoderModel(
                EncoderDecoderConfig.from_encoder_decoder_configs(
                    ws.BertConfig(**MINILM), ws.BertConfig(**MINILM), **MINILM_IDS
                )
            ).eval()
            ours.save_pretrained(self.folder / "minilm")
            theirs = hf.EncoderDecoderModel.from_pretrained(self.folder / "minilm").eval()
            self.pair = ours.to(self.runner.device), theirs.to(self.runner.device)
        return self.pair

    def decode(self, figure: str, B: int, **options: Any) -> str:
        ours, theirs = self.models()
        x = torch.randint(1000, 30000, (B, 64)).to(self.runner.device)
        kw = dict(max_new_tokens=self.steps, min_new_tokens=self.steps, eos_token_id=None)
        lengths = []

        def run(model) -> Callable[[], object]:
            def fn() -> None:
                with torch.no_grad():
                    lengths.append(model.generate(x, **kw, **options).shape[1])

            return fn

        a, b = interleaved([run(ours), run(theirs)], self.repeats, sync=self.runner.sync)
        if set(lengths) != {1 + self.steps}:
            raise AssertionError(f"decodes ran {sorted(set(lengths))} tokens, not {1 + self.steps}")
        row = TimingRow(figure, "ms/step", 1000 * a / self.steps, 1000 * b / self.steps)
        row.note = f"generate time / {self.steps} new tokens, source 64; median of {self.repeats}"
        self.runner.timings.append(row)
        return f"ours {row.warmstart:.2f}, theirs {row.transformers:.2f} ms/step ({row.ratio:.2f}x)"

    def train(self) -> str:
        ours, theirs = self.models()
        B = self.train_batch
        x = torch.randint(1000, 30000, (B, 128)).to(self.runner.device)
        y = torch.randint(1000, 30000, (B, 64)).to(self.runner.device)

        fns = [train_fn(ours, x, y), train_fn(theirs, x, y)]
        a, b = interleaved(fns, self.repeats, sync=self.runner.sync)
        tokens = x.numel() + y.numel()
        row = TimingRow(f"training {B}x(128+64)", "tokens/s", tokens / a, tokens / b)
        row.note = f"forward, backward, SGD step; median of {self.repeats}"
        self.runner.timings.append(row)
        return (
            f"ours {row.warmstart:.0f}, theirs {row.transformers:.0f} tokens/s ({row.ratio:.2f}x)"
        )


# ----------------------------------------------------------------------------------- main
def environment(device: torch.device) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": hf.__version__,
        "warmstart": getattr(warmstart, "__version__", None) or _installed_version(),
        "platform": platform.platform(),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        try:  # without a usable GPU the setup/device check says why
            env["device_name"] = torch.cuda.get_device_name(device)
            env["cudnn"] = torch.backends.cudnn.version()
        except Exception as error:
            env["device_name"] = f"unavailable ({type(error).__name__}: {error})"
    return env


def _installed_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("warmstart")
    except metadata.PackageNotFoundError:
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu, ... (default cuda)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller timings")
    parser.add_argument("--skip-compile", action="store_true", help="no torch.compile checks")
    parser.add_argument("--skip-timing", action="store_true", help="no timing checks")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    parser.add_argument(
        "--only", default=None, help="run only checks whose name matches this regex"
    )
    return parser.parse_args(argv)


def report(runner: Runner, total: float) -> None:
    print(f"\n{'check':28} {'status':6} {'seconds':>8}  detail")
    print("-" * 110)
    for r in runner.results:
        text = r.detail if r.status == "pass" else r.error.splitlines()[0]
        print(f"{r.name:28} {r.status:6} {r.seconds:8.2f}  {text[:160]}")
    if runner.timings:
        print(
            f"\n{'figure (MiniLM-shaped bert2bert, fp32)':40} {'unit':8} {'warmstart':>10} "
            f"{'transformers':>12} {'ratio':>7}  note"
        )
        print("-" * 100)
        for t in runner.timings:
            print(
                f"{t.figure:40} {t.unit:8} {t.warmstart:10.2f} {t.transformers:12.2f} "
                f"{t.ratio:6.2f}x  {t.note}"
            )
    failed = runner.failed()
    for r in runner.results:
        if r.status != "pass":
            print(f"\n--- {r.name}: {r.error}\n{r.traceback}")
    env = runner.env
    print(
        f"\n{len(runner.results) - len(failed)}/{len(runner.results)} checks passed in {total:.0f} s "
        f"on {env.get('device_name', env['device'])}; torch {env['torch']}, transformers "
        f"{env['transformers']}; TF32 off"
    )
    if runner.args.output:
        print(f"written to {runner.args.output}")


def probe(device: torch.device) -> str:
    """A tensor moved there and back: the device exists and works (CUDA is initialised here)."""
    t = torch.arange(4.0).to(device)
    if (t * 2).sum().item() != 12.0:
        raise AssertionError("arithmetic on the device is wrong")
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return (
            f"{torch.cuda.get_device_name(device)}, {free / 2**30:.0f}/{total / 2**30:.0f} GiB free"
        )
    return str(device)


def run_checks(runner: Runner, folder: Path) -> None:
    args, device = runner.args, runner.device
    for name in PAIRINGS:
        runner.check(f"forward/{name}", lambda n=name: check_forward(n, folder, device))
    for name in PAIRINGS:
        runner.check(f"generate/{name}", lambda n=name: check_pairing_generate(n, folder, device))
    made: list[GenPair] = []

    def tiny_pair() -> GenPair:
        if not made:  # made once, inside the first check that needs it
            made.append(GenPair.make(folder, device))
        return made[0]

    for case in GEN_CASES:
        runner.check(f"generate/{case}", lambda c=case: check_generate_case(tiny_pair(), c, device))
    runner.check("generate/sample", lambda: check_sample(tiny_pair(), device))
    runner.check("device/placement", lambda: check_placement(tiny_pair(), device))
    runner.check("bf16/greedy", lambda: check_bf16(tiny_pair(), folder, device))
    runner.check("save/from-device", lambda: check_save(folder, device))
    if not args.skip_compile:
        runner.check("compile/decoder", lambda: check_compile_decoder(folder, device))
        runner.check("compile/encoder", lambda: check_compile_encoder(folder, device))
    if not args.skip_timing:
        timing = Timing(runner, folder)
        runner.check("timing/greedy b1", lambda: timing.decode("greedy b1", 1))
        runner.check("timing/beam4 b1", lambda: timing.decode("beam 4 b1", 1, num_beams=4))
        batch = f"greedy b{timing.batch}"
        runner.check(f"timing/{batch}", lambda: timing.decode(batch, timing.batch))
        runner.check("timing/training", timing.train)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = (
        torch.get_num_threads(),
        hf.logging.get_verbosity(),
        hf.logging.is_progress_bar_enabled(),
    )
    try:
        return run(args)
    finally:  # main may run inside another process (the test): leave its settings as they were
        torch.set_num_threads(saved[0])
        hf.logging.set_verbosity(saved[1])
        if saved[2]:
            hf.logging.enable_progress_bar()


def run(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    # fp32 means fp32: TF32 matmuls would differ from the CPU and between libraries by ~1e-3
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    hf.logging.set_verbosity_error()
    hf.logging.disable_progress_bar()
    runner = Runner(args, device, environment(device))
    print(
        f"device {runner.env.get('device_name', device)}; torch {torch.__version__}, "
        f"transformers {hf.__version__}; TF32 off\n"
    )
    start = time.perf_counter()
    runner.check("setup/device", lambda: probe(device), always=True)
    if not runner.failed():
        with tempfile.TemporaryDirectory() as tmp:
            run_checks(runner, Path(tmp))
    report(runner, time.perf_counter() - start)
    runner.write()
    return 1 if runner.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
