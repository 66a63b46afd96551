"""How results become queryable: read models, checkpoints and replay (DESIGN.md §6).

Commands (registered in :mod:`wavestream.cli`, defined in :mod:`projector.cli`):

- ``wavestream projector`` -- the consumer loop (:mod:`projector.loop`): ``events`` into
  the read models, one PostgreSQL transaction per batch together with the offsets
  (:mod:`projector.repository`, folding in :mod:`projector.fold`).
- ``wavestream replay [--rollback]`` -- blue/green rebuild (:mod:`projector.replay`).
- ``wavestream status [--json] [--posting ID] [--check]`` -- the dashboard
  (:mod:`projector.status`, rendered by :mod:`projector.dashboard`).

Where things live: the read models are in one schema (``--schema``, default
``wavestream``; :mod:`projector.pgschema`), built by the migrations ``sql/002``-``004``.
Two NOLOGIN roles come with them: ``wavestream_projector`` (enough to run ``wavestream
projector --no-migrate``) and ``wavestream_reader`` (``status`` and dashboards).
Create logins that inherit them without putting a password in a file::

    CREATE ROLE alice LOGIN IN ROLE wavestream_reader;  -- then \\password alice in psql
    ALTER ROLE alice SET search_path = wavestream;

Migrations and ``replay`` need the schema owner (they create and rename schemas).
"""
