"""Actors run one stage's work for one command: ``llm``, ``script`` and ``human``."""
