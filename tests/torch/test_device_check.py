"""benchmarks/device_check.py runs on the CPU: every check passes and lands in the JSON; a broken
comparison fails its check (recorded with its error) without stopping the run."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "device_check.py"
CHECKS = {
    "setup/device",
    *(
        f"forward/{p}"
        for p in ("bert2bert", "bert2gpt2", "roberta2roberta", "bert2bart", "bart2bart")
    ),
    *(
        f"generate/{p}"
        for p in ("bert2bert", "bert2gpt2", "roberta2roberta", "bert2bart", "bart2bart")
    ),
    *(f"generate/{c}" for c in ("greedy", "beam4", "no_repeat_ngram", "mixed", "sample")),
    "device/placement",
    "bf16/greedy",
    "save/from-device",
    "compile/decoder",
    "compile/encoder",
}


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_every_check_passes_on_cpu(device_check, tmp_path, capsys):
    output = tmp_path / "device.json"
    code = device_check.main(
        ["--device", "cpu", "--quick", "--skip-timing", "--output", str(output)]
    )
    data = json.loads(output.read_text())
    failed = {c["name"]: c["error"] for c in data["checks"] if c["status"] != "pass"}
    assert code == 0 and not failed and data["passed"], failed
    assert {c["name"] for c in data["checks"]} == CHECKS
    assert data["environment"]["device"] == "cpu" and data["environment"]["torch"]
    table = capsys.readouterr().out
    assert (
        all(name in table for name in CHECKS)
        and f"{len(CHECKS)}/{len(CHECKS)} checks passed" in table
    )


def test_a_broken_model_fails_its_checks_and_the_run_goes_on(device_check, tmp_path, monkeypatch):
    """Ours loaded with one cross-attention weight of the wrong sign: logits and tokens must be
    caught; every selected check still runs and is recorded."""
    real = device_check.pair_from

    def perturbed(theirs, folder):
        ours = real(theirs, folder)
        with torch.no_grad():
            name = next(n for n, _ in ours.named_parameters() if device_check.CROSS_OUT.search(n))
            ours.get_parameter(name).neg_()
        return ours

    monkeypatch.setattr(device_check, "pair_from", perturbed)
    output = tmp_path / "device.json"
    only = "forward/bert2bart|generate/(roberta2roberta|greedy|beam4)|device/"
    code = device_check.main(["--device", "cpu", "--only", only, "--output", str(output)])
    checks = {c["name"]: c for c in json.loads(output.read_text())["checks"]}
    assert code == 1
    assert set(checks) == {
        "setup/device",
        "forward/bert2bart",
        "generate/roberta2roberta",
        "generate/greedy",
        "generate/beam4",
        "device/placement",
    }
    assert checks["device/placement"]["status"] == "pass"  # the weights do not matter there
    for name in (
        "forward/bert2bart",
        "generate/roberta2roberta",
        "generate/greedy",
        "generate/beam4",
    ):
        assert checks[name]["status"] == "fail", checks[name]
        assert "AssertionError" in checks[name]["error"] and checks[name]["traceback"]
    assert "logits" in checks["forward/bert2bart"]["error"]
    assert "tokens differ" in checks["generate/greedy"]["error"]


def test_device_warnings_fail_a_check(device_check):
    runner = device_check.Runner(
        device_check.parse_args(["--device", "cpu"]), torch.device("cpu"), {}
    )
    runner.check("mismatch", lambda: warnings.warn("tensors on different devices", stacklevel=1))
    runner.check("unrelated", lambda: warnings.warn("something else", stacklevel=1) or "ok")
    runner.check("raises", lambda: 1 / 0)
    status = {r.name: (r.status, r.error) for r in runner.results}
    assert status["mismatch"][0] == "fail" and "device warning" in status["mismatch"][1]
    assert status["unrelated"] == ("pass", "")
    assert status["raises"][0] == "fail" and "ZeroDivisionError" in status["raises"][1]
