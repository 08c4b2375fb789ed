"""Run under transformers 4.46's Flax environment (``.venv-ref-flax``, no torch): build random
``FlaxEncoderDecoderModel``s and save them with 4.46's ``save_pretrained`` (config.json +
flax_model.msgpack), or load folders another library saved, and write their logits.

Usage: ref_flax.py JOBS.json OUT.npz. JOBS is a list of jobs, each with ``folder`` and
``inputs`` (``input_ids``, ``attention_mask``, ``decoder_input_ids`` lists) and either ``build``
(``encoder``/``decoder`` config dicts with their model_type, composite fields in ``tokens``;
the model is saved to ``folder``) or nothing more (the model is loaded from ``folder``). OUT gets
``logits_<i>`` per job; a job with ``"layers": true`` also gets each attention weight and hidden
state as ``<field>_<i>_<layer>`` (``encoder_attentions``, ``cross_attentions``, ...).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import transformers as hf

LAYER_FIELDS = (
    "encoder_attentions",
    "decoder_attentions",
    "cross_attentions",
    "encoder_hidden_states",
    "decoder_hidden_states",
)


def run(job: dict) -> dict[str, np.ndarray]:
    build = job.get("build")
    if build is None:
        model = hf.FlaxEncoderDecoderModel.from_pretrained(job["folder"])
    else:
        sides = [hf.AutoConfig.for_model(**build[side]) for side in ("encoder", "decoder")]
        config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(*sides, **build["tokens"])
        model = hf.FlaxEncoderDecoderModel(config, seed=0)
        model.save_pretrained(job["folder"])
    inputs = {k: np.asarray(v) for k, v in job["inputs"].items()}
    layers = bool(job.get("layers"))
    out = model(**inputs, output_attentions=layers, output_hidden_states=layers)
    arrays = {"logits": np.asarray(out.logits)}
    for field in LAYER_FIELDS if layers else ():
        arrays.update({f"{field}_{k}": np.asarray(a) for k, a in enumerate(out[field])})
    return arrays


def main(jobs_path: str, out: str) -> None:
    with open(jobs_path) as f:
        jobs = json.load(f)
    arrays = {}
    for i, job in enumerate(jobs):
        for name, value in run(job).items():  # logits -> logits_<i>, <field>_<k> -> <field>_<i>_<k>
            field, _, k = name.rpartition("_") if name != "logits" else (name, "", "")
            arrays[f"{field}_{i}" + (f"_{k}" if k else "")] = value
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
