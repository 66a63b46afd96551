"""wavestream: job postings through LLM conversation stages on Apache Kafka.

This package holds shared plumbing only: configuration, the Avro codec, Kafka
clients, topic administration, logging, the embedded stack and the CLI.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The root of a source checkout (the directory above this package): tests and the
#: Makefile use it. Code finds schemas/, sql/, workflows/ and examples/ with
#: :func:`wavestream.resources.resource_dir`, which also works for an installed wheel.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
