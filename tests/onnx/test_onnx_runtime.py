"""The ONNX room around the search: the CLI on an exported folder, bad folders and inputs, the
runtime's imports (no framework), int8 export, sampling and streaming."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx_models import export, source, torch_pairing
from train.tiny import tiny_bert, write_data

from warmstart import BertTokenizer, EncoderDecoderModel
from warmstart.cli import main
from warmstart.onnx import ORTEncoderDecoderModel

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny bert2bert with a word vocabulary saved with its tokenizer, its export by
    ``warmstart export``, and the sentence-fusion data."""
    root = tmp_path_factory.mktemp("onnx_cli")
    words = write_data(root / "data", {"test": 6})
    bert = tiny_bert(root / "bert", words, dropout=0.0)
    torch.manual_seed(0)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(bert, bert)
    saved = root / "saved"
    model.save_pretrained(saved)
    BertTokenizer.from_pretrained(bert).save_pretrained(saved)
    main(["export", "--model", str(saved), "--output", str(root / "exported")])
    return saved, root / "exported", root / "data"


def test_cli_generate_and_evaluate_on_an_export(folders, tmp_path):
    saved, exported, data = folders
    lines = [json.loads(r)["source"] for r in (data / "test.jsonl").read_text().splitlines()]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    outs = {}
    for name, folder in (("torch", saved), ("onnx", exported)):
        outs[name] = tmp_path / f"{name}.txt"
        args = ["--input", tmp_path / "in.txt", "--output", outs[name], "--num-beams", "2"]
        main(["generate", "--model", str(folder), *map(str, args), "--max-new-tokens", "12"])
    assert outs["onnx"].read_text() == outs["torch"].read_text()
    assert len(outs["onnx"].read_text().splitlines()) == len(lines)
    metrics = tmp_path / "m.json"
    main(
        [
            *("evaluate", "--model", str(exported), "--data", str(data / "test.jsonl")),
            *("--output", str(metrics), "--max-new-tokens", "12"),
        ]
    )
    assert "rougeL" in json.loads(metrics.read_text())


def test_cli_generate_on_an_export_warns_when_it_truncates(folders, tmp_path, caplog):
    _, exported, _ = folders
    (tmp_path / "in.txt").write_text(" ".join(["a"] * 30) + "\na\n")
    args = ["--input", tmp_path / "in.txt", "--output", tmp_path / "out.txt", "--max-new-tokens", 4]
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        main(["generate", "--model", str(exported), *map(str, args), "--max-source-length", "8"])
    said = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(said) == 1 and "1 of 2 inputs" in said[0] and "--max-source-length 8" in said[0]


def test_cli_refuses_torch_options_on_an_export(folders, tmp_path):
    _, exported, _ = folders
    (tmp_path / "in.txt").write_text("a b\n")
    with pytest.raises(SystemExit, match="--compile does not apply to an exported ONNX folder"):
        main(
            ["generate", "--model", str(exported), "--input", str(tmp_path / "in.txt"), "--compile"]
        )


def test_bad_folders_say_what_to_do(folders, tmp_path):
    _, exported, _ = folders
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "decoder_step.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="decoder_step.onnx is missing.*warmstart export"):
        ORTEncoderDecoderModel.from_pretrained(broken)
    manifest = json.loads((exported / "onnx_export.json").read_text())
    shutil.copy(exported / "decoder_step.onnx", broken / "decoder_step.onnx")
    (broken / "onnx_export.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ValueError, match="version 99.*re-export it"):
        ORTEncoderDecoderModel.from_pretrained(broken)
    with pytest.raises(FileNotFoundError, match="holds no ONNX export"):
        ORTEncoderDecoderModel.from_pretrained(tmp_path)


def test_too_long_inputs_say_what_to_do(folders):
    _, exported, _ = folders
    model = ORTEncoderDecoderModel.from_pretrained(exported)
    with pytest.raises(ValueError, match="allows at most 64; truncate"):
        model.generate(np.full((1, 65), 5), max_new_tokens=2)
    with pytest.raises(ValueError, match="lower max_new_tokens"):
        model.generate(np.full((1, 5), 5), max_new_tokens=80)


def test_unsupported_model_says_what_to_do(tmp_path):
    model = torch_pairing("bert2bert").quantize("int8")
    with pytest.raises(ValueError, match="pass quantize='int8' to the export"):
        export(model, tmp_path)


def test_runtime_imports_no_framework(folders):
    _, exported, _ = folders
    code = f"""
        import sys
        for name in ("torch", "tensorflow", "jax", "flax"):
            sys.modules[name] = None
        import numpy as np
        from warmstart.onnx import ORTEncoderDecoderModel
        m = ORTEncoderDecoderModel.from_pretrained({str(exported)!r})
        print(m.generate(np.array([[5, 6, 7]]), max_new_tokens=3, num_beams=2).shape)
        """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 4)"


def test_sampling_streaming_and_int8(tmp_path):
    torch.manual_seed(0)
    ours = torch_pairing("bert2bert")
    x, mask = source(1)
    fp32 = ORTEncoderDecoderModel.from_pretrained(export(ours, tmp_path / "fp32"))
    int8 = ORTEncoderDecoderModel.from_pretrained(export(ours, tmp_path / "int8", quantize="int8"))
    assert int8.quantized == "int8"
    assert (tmp_path / "int8" / "decoder_step.onnx").stat().st_size < (
        tmp_path / "fp32" / "decoder_step.onnx"
    ).stat().st_size
    for name in ("fp32", "int8"):  # the tied LM head is stored transposed, int8 like the rest
        graph = onnx.load(str(tmp_path / name / "decoder_step.onnx")).graph
        weights = {w.name for w in graph.initializer}
        transposed = [
            n.name for n in graph.node if n.op_type == "Transpose" and n.input[0] in weights
        ]
        fp32_products = [
            n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights
        ]
        assert not transposed
        assert bool(fp32_products) == (name == "fp32"), fp32_products
    a, b = fp32.generate(x, mask, max_new_tokens=8), int8.generate(x, mask, max_new_tokens=8)
    assert a.shape == b.shape and (a == b).mean() > 0.5  # int8 rounding may change a token
    kw = dict(do_sample=True, top_k=20, top_p=0.9, temperature=0.8, max_new_tokens=8)
    s1 = fp32.generate(x, mask, generator=np.random.default_rng(3), **kw)
    s2 = fp32.generate(x, mask, generator=np.random.default_rng(3), **kw)
    assert np.array_equal(s1, s2) and s1.shape == (4, 9)
    s3 = fp32.generate(x, mask, num_return_sequences=2, generator=np.random.default_rng(3), **kw)
    assert s3.shape == (8, 9)  # two rows per input over one row of cross keys/values
    steps = []
    stream = fp32.stream(x, mask, max_new_tokens=8)
    try:
        while True:
            steps.append(next(stream))
    except StopIteration as done:
        final = done.value
    assert np.array_equal(final, a) and np.array_equal(np.stack(steps, 1), a[:, 1:])


def test_the_exporter_and_the_runtime_agree_on_the_layout():
    from warmstart.onnx import model as runtime
    from warmstart.torch import export as exporter

    assert (exporter.EXPORT_VERSION, exporter.MANIFEST, exporter.GRAPHS) == (
        runtime.EXPORT_VERSION,
        runtime.MANIFEST,
        runtime.GRAPHS,
    )
