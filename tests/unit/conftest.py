"""Fixtures shared by the codec tests."""

from __future__ import annotations

import pytest

from wavestream.codec import AvroCodec
from wavestream.schemas import load_schemas


@pytest.fixture(scope="module")
def schemas():
    return load_schemas()


@pytest.fixture(scope="module")
def codec(schemas):
    return AvroCodec(schemas)
