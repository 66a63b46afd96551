"""How results become queryable: read models, checkpoints and replay."""
