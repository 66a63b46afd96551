"""How work enters wavestream: posting ingest and interaction commands."""
