"""wavestream: job postings through LLM conversation stages on Apache Kafka.

This package holds shared plumbing only: configuration, the Avro codec, Kafka
clients, topic administration, logging, the embedded stack and the CLI.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root: schemas/, sql/ and workflows/ live beside the packages.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
