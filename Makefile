# Two entry points (see README): `make book` (the main job) and `make test`.
# Each installs what is missing into the project-local virtual environment .venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export MPLCONFIGDIR   ?= $(CURDIR)/.cache/matplotlib
export PYTHONUNBUFFERED = 1

.PHONY: install data browser book demo lab lint test clean gpu-wheels gpu-data

# -qq: pip's own warnings about the machine's index settings are not this project's to fix
$(STAMP): pyproject.toml
	@echo "installing into $(VENV) (about 2 minutes the first time)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -qq --upgrade pip
	@$(PY) -m pip install -qq -e '.[test,cluster]'
	@touch $@

install: $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package (installed when run as root);
# diffprune.data also accepts the idx files under data/fashion-mnist/FashionMNIST/raw/.
data:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
	  || test -f data/fashion-mnist/FashionMNIST/raw/train-images-idx3-ubyte.gz \
	  || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null; } \
	  || { echo "Fashion-MNIST missing: apt-get install dataset-fashion-mnist (as root)"; exit 1; }

# Headless Chromium for the page tests: Debian's package (installed when run as root).
browser:
	@command -v chromium >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; } \
	  || echo "chromium missing: the browser test will be skipped (apt-get install chromium as root)"

# Main job: execute every chapter with the cpu profile (reusing data/study/) and build the book.
# Pass options through ARGS, e.g. make book ARGS="-p ratio 0.5" or ARGS="--recompute".
book: install data
	$(PY) -m diffprune book --profile cpu $(ARGS)

# A two-minute look at the library: prune the committed teacher and sample from both models.
demo: install data
	$(PY) -m diffprune prune --model data/teachers/fashion-mnist --method diff-pruning --ratio 0.3 \
	  --threshold 0.05 --timestep-stride 10 --dataset fashion-mnist --batch-size 64 --out build/demo/pruned
	$(PY) -m diffprune sample --model data/teachers/fashion-mnist --n 32 --steps 50 --out build/demo/teacher.npz
	$(PY) -m diffprune sample --model build/demo/pruned --n 32 --steps 50 --out build/demo/pruned.npz
	@echo "demo: build/demo/pruned/prune_report.json, build/demo/teacher.png, build/demo/pruned.png"

# JupyterLab on the chapters: notebooks/*.py open as notebooks (jupytext), on this machine only.
lab: install data
	$(PY) -m diffprune lab

lint: install
	$(VENV)/bin/ruff check diffprune notebooks tests benchmarks exercises

# Two pytest-xdist workers, a test file to each in turn (the smoke book's tests share test_book.py:
# its fixtures are made once; the smoke study it renders from is made once for both workers, and
# tests/test_study_on_dask.py, collected late, recomputes it in one process beside the book's
# tests). Not --dist loadgroup: with pytest 9.2 it silently stops grouping (pytest-xdist issue 1386).
test: install data browser lint
	$(PY) -m pytest -q -n 2 --dist loadfile

# What a lent GPU machine (no network, Python 3.12, PyTorch in its image) lacks to run
# benchmarks/gpu_speed.sh: pure-Python wheels at this project's pins, carried there as .whl/.
GPU_WHEELS := diffusers==0.42.1 torch-pruning==1.6.1 huggingface-hub==2.4.0 safetensors==0.8.0 \
	importlib_metadata httpx2 httpcore2 truststore click pytorch-fid==0.3.0 pytorch-msssim==1.0.0
gpu-wheels: install
	$(PY) -m pip download -qq --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)

# Fashion-MNIST's idx files where diffprune.data looks when the Debian package is absent, as on a
# lent GPU machine (benchmarks/gpu_curves.sh carries them there).
gpu-data: data
	@mkdir -p data/fashion-mnist/FashionMNIST/raw
	@cp -n /usr/share/datasets/fashion-mnist/*-ubyte.gz data/fashion-mnist/FashionMNIST/raw/ 2>/dev/null \
	  || test -f data/fashion-mnist/FashionMNIST/raw/train-images-idx3-ubyte.gz

clean:
	rm -rf build .pytest_cache
