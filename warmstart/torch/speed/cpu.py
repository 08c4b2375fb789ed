"""This CPU: its model, its vector extensions, and which of two equal product paths is faster on it.

The fastest way to multiply a weight by one row, or by an encoder's worth of rows, differs from one
CPU and BLAS build to the next (AVX-512 or AVX2 only, native bf16 arithmetic or not, MKL's and
oneDNN's kernels for each). :mod:`.products` and :mod:`.quantize` do not
assume one machine's habits: :func:`choice` times the candidate paths once per process on products
of the models' shapes, interleaved, and keeps the faster (the fastest of a few rounds: a busy
machine's stalls only add time). :func:`forced` pins a choice (tests, comparisons).
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

EXTENSIONS = {
    "avx2": ("avx2",),
    "avx512": ("avx512f",),
    "avx512_bf16": ("avx512_bf16",),
    "amx": ("amx_tile", "amx_bf16", "amx_int8"),
}
"""Extensions reported: name -> the /proc/cpuinfo flags that show it (any of them)."""

CHOICES = {
    "few_rows": ("columns", "linear"),
    "many_rows": ("onednn", "aten"),
    "training_rows": ("onednn", "aten"),
    "bf16_row": ("aten", "onednn"),
}
"""Each choice and its candidates, the first being the default while none is measured:

- ``few_rows``: an fp32 product of one to four rows at inference (a decoding step), as the
  weight times columns (``weight @ x.T``; one row goes in twice) or as ``F.linear`` (BLAS's
  matrix-vector product for one row);
- ``many_rows``: an fp32 product of hundreds of rows, in oneDNN or in ATen's ``F.linear`` (MKL):
  at inference (encoding), and the forward of a training step;
- ``training_rows``: the input gradient of a training step's product (the weight gradient is
  always ATen's). Not timed, because products timed on their own do not show the difference a
  training step does: in a MiniLM bert2bert step on a 2-core AVX2-only AMD EPYC, ATen's products
  for the forward and the input gradient made the step 4-7% faster than oneDNN's while the same
  products alone timed level; oneDNN's forward alone (its bias added inside the product) made the
  step about 4% faster again. oneDNN's input gradient is kept where AVX-512 is present and
  ``many_rows`` measured it faster (10-20% there);
- ``bf16_row``: a bf16 product of one row, in ATen's own kernel or in oneDNN.
"""

_chosen: dict[str, str] = {}
_forced: dict[str, str] = {}


HAS_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
"""Whether this torch has oneDNN's product."""


def onednn_product(
    x: Tensor, weight: Tensor, bias: Tensor | None, act: str = "none", algorithm: str = ""
) -> Tensor:
    """``act(x @ weight.T + bias)`` by oneDNN (fp32 CPU tensors; ``act`` a oneDNN activation)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, act, [], algorithm)


def model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def extensions() -> dict[str, bool]:
    """Which of :data:`EXTENSIONS` the CPU has (all False where ``/proc/cpuinfo`` is missing)."""
    flags: set[str] = set()
    for line in _cpuinfo():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    return {name: any(f in flags for f in names) for name, names in EXTENSIONS.items()}


def describe() -> dict:
    """The CPU's model, extensions, the limits set on torch's kernels (ATen's capability,
    ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``) and the product paths chosen so far."""
    return {
        "model": model_name(),
        "extensions": extensions(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "ALL"),
        "paths": {**_chosen, **_forced},
    }


def choice(name: str) -> str:
    """The faster candidate of :data:`CHOICES` ``[name]`` on this CPU, measured on first use and
    kept. Inside a compiled graph (which cannot time anything) it is the choice measured so far,
    else the default."""
    if name in _forced:
        return _forced[name]
    if name not in _chosen:
        if torch.compiler.is_compiling():
            return CHOICES[name][0]
        _chosen[name] = _measure(name)
    return _chosen[name]


def chosen() -> dict[str, str]:
    """Every choice of :data:`CHOICES`, measured now where it is not yet: call it before
    compiling, since a graph keeps the paths of its tracing."""
    return {name: choice(name) for name in CHOICES}


@contextlib.contextmanager
def forced(**paths: str) -> Iterator[None]:
    """Within this block, :func:`choice` answers ``paths`` (name=candidate) without measuring."""
    for name, path in paths.items():
        if path not in CHOICES[name]:
            raise ValueError(f"{name} is one of {', '.join(CHOICES[name])}, not {path!r}.")
    before = dict(_forced)
    _forced.update(paths)
    try:
        yield
    finally:
        _forced.clear()
        _forced.update(before)


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read().splitlines()
    except OSError:
        return []


def columns_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """(..., K) x (N, K) -> (..., N) as ``weight @ x.T``."""
    rows = x.shape[:-1].numel()
    cols = x.reshape(rows, x.shape[-1])
    if rows == 1:  # one column would take BLAS's slow matrix-vector path
        cols = torch.cat([cols, cols])
    if bias is None:
        out = torch.mm(weight, cols.t())  # (N, rows)
    else:
        out = torch.addmm(bias[:, None], weight, cols.t())
    return out[:, :rows].t().contiguous().view(*x.shape[:-1], weight.shape[0])


def _measure(name: str) -> str:
    """Time ``name``'s candidates (interleaved, best of 7 rounds after one warm-up) on products
    of a MiniLM/BERT-base decoder's and encoder's shapes, larger than most caches where a product
    streams its weight."""
    gen = torch.Generator().manual_seed(0)
    if name == "training_rows":  # a rule, not a timing: see CHOICES
        fast = HAS_ONEDNN and extensions()["avx512"] and choice("many_rows") == "onednn"
        return "onednn" if fast else "aten"
    if name == "many_rows":
        if not HAS_ONEDNN:
            return "aten"
        x, w = torch.randn(256, 768, generator=gen), torch.randn(1536, 768, generator=gen)
        runs = {"onednn": lambda: onednn_product(x, w, None), "aten": lambda: F.linear(x, w)}
    elif name == "few_rows":
        xs = [torch.randn(rows, 768, generator=gen) for rows in (1, 4)]
        w = torch.randn(8192, 768, generator=gen)
        runs = {
            "columns": lambda: [columns_product(x, w, None) for x in xs],
            "linear": lambda: [F.linear(x, w) for x in xs],
        }
    else:
        if not torch.backends.mkldnn.is_available():
            return "aten"
        x = torch.randn(1, 768, generator=gen).bfloat16()
        w = torch.randn(8192, 768, generator=gen).bfloat16()

        def aten() -> None:
            with onednn_off():
                F.linear(x, w)

        runs = {"aten": aten, "onednn": lambda: F.linear(x, w)}
    with torch.no_grad():
        times = _interleaved(list(runs.values()))
    return min(zip(times, runs), key=lambda pair: pair[0])[1]


def _interleaved(fns: list[Callable[[], object]], rounds: int = 7) -> list[float]:
    """Least seconds of each of ``fns``, run in turn after one warm-up round."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [min(ts) for ts in times]


@contextlib.contextmanager
def onednn_off() -> Iterator[None]:
    """ATen's own kernels instead of oneDNN's while active (a process-wide switch)."""
    before = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(before)
