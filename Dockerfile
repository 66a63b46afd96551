# wavestream image: the CLI, the workers (llama-cpp-python built from source) and the projector.
# GPU builds: docker build --build-arg CMAKE_ARGS="-DGGML_CUDA=on" --build-arg BASE=nvidia/cuda:12.4.1-devel-ubuntu22.04 .
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG CMAKE_ARGS=""
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY wavestream ./wavestream
COPY producers ./producers
COPY consumers ./consumers
COPY projector ./projector
COPY schemas ./schemas
COPY sql ./sql
COPY workflows ./workflows
# The catalogue models are installed and verified at build time, never at run time.
ENV WAVESTREAM_CACHE_DIR=/opt/wavestream/cache
RUN CMAKE_ARGS="${CMAKE_ARGS}" pip install --no-cache-dir "llama-cpp-python==0.3.36" \
    && pip install --no-cache-dir -e . \
    && wavestream models install
RUN useradd --system --uid 10001 wavestream
USER wavestream
ENTRYPOINT ["wavestream"]
