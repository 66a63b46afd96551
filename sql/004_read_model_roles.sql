-- Roles for the read models (DESIGN.md section 6).
--
--   wavestream_projector  writes the read models (what `wavestream projector` needs)
--   wavestream_reader     reads them, writes nothing (dashboards, analysts)
--
-- Both are NOLOGIN group roles without passwords: nothing secret lives in this file.
-- Give a person or service a login that inherits one of them, as a superuser or a
-- role with CREATEROLE, with the password typed at a prompt (psql's \password) or
-- taken from a secret store, never written into a migration:
--
--   CREATE ROLE alice LOGIN IN ROLE wavestream_reader;
--   \password alice
--   ALTER ROLE alice SET search_path = wavestream;   -- the read-model schema
--
-- Roles are cluster-wide, so creating them tolerates other databases (or concurrent
-- migrators) having created them first. The grants apply to the schema this
-- migration runs in (current_schema(), chosen through search_path), so a replay
-- build schema gets the same grants before it is swapped in. A later migration that
-- adds a table must grant on it the same way.
--
-- Migrations and `wavestream replay` run as the schema owner (they create tables and
-- schemas and rename schemas); the projector role itself cannot change the DDL.

DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['wavestream_projector', 'wavestream_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migrator of another database
            END;
        END IF;
    END LOOP;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO wavestream_projector, wavestream_reader',
                   current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO wavestream_reader',
                   current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA %I TO wavestream_projector',
                   current_schema());
    -- Only migrators record migrations.
    REVOKE INSERT, UPDATE ON schema_migrations FROM wavestream_projector;
END
$roles$;
