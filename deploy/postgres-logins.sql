-- Login roles for the wavestream services (psql script; PostgreSQL 15+ client).
--
-- The migrations create two NOLOGIN group roles (sql/004_read_model_roles.sql):
-- wavestream_projector (writes the read models) and wavestream_reader (reads them).
-- This script gives each a login that inherits it, so no service logs in as the owner
-- or a superuser. Run it as the database owner (or a role with CREATEROLE) AFTER the
-- migrations; it is idempotent, so running it again sets the current passwords:
--
--   PROJECTOR_DB_PASSWORD=... READER_DB_PASSWORD=... \
--     psql -v ON_ERROR_STOP=1 -f deploy/postgres-logins.sql
--
-- Passwords come from the environment (\getenv), never from this file or the command
-- line. Optional psql variables: -v projector_login=NAME (default projector),
-- -v reader_login=NAME (default reader), -v schema=NAME (default wavestream: the
-- read-model schema, set as each login's search_path).
-- docker-compose.yml runs it in the one-shot `db-logins` service.

\set ON_ERROR_STOP on
\if :{?projector_login}
\else
    \set projector_login projector
\endif
\if :{?reader_login}
\else
    \set reader_login reader
\endif
\if :{?schema}
\else
    \set schema wavestream
\endif
\getenv projector_password PROJECTOR_DB_PASSWORD
\getenv reader_password READER_DB_PASSWORD
\if :{?projector_password}
\else
    \set projector_password ''
\endif
\if :{?reader_password}
\else
    \set reader_password ''
\endif
SELECT :'projector_password' = '' AS no_projector_password, :'reader_password' = '' AS no_reader_password \gset
\if :no_projector_password
    DO 'BEGIN RAISE EXCEPTION ''PROJECTOR_DB_PASSWORD is not set''; END';
\endif
\if :no_reader_password
    DO 'BEGIN RAISE EXCEPTION ''READER_DB_PASSWORD is not set''; END';
\endif

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', name)
  FROM (VALUES (:'projector_login'), (:'reader_login')) AS wanted(name)
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted.name) \gexec

GRANT wavestream_projector TO :"projector_login";
GRANT wavestream_reader TO :"reader_login";
ALTER ROLE :"projector_login" WITH LOGIN PASSWORD :'projector_password';
ALTER ROLE :"reader_login" WITH LOGIN PASSWORD :'reader_password';
ALTER ROLE :"projector_login" SET search_path = :"schema";
ALTER ROLE :"reader_login" SET search_path = :"schema";
