-- Two roles: a writer for ETL and a read-only role the dashboard connects as.
-- Roles are cluster-wide, so create them once; grants are per database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cityscreen_reader') THEN
        CREATE ROLE cityscreen_reader LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cityscreen_writer') THEN
        CREATE ROLE cityscreen_writer LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO cityscreen_reader, cityscreen_writer',
                   current_database());
END $$;

ALTER ROLE cityscreen_reader SET default_transaction_read_only = on;
ALTER ROLE cityscreen_reader SET statement_timeout = '15s';

GRANT USAGE ON SCHEMA public TO cityscreen_reader, cityscreen_writer;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO cityscreen_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO cityscreen_reader;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO cityscreen_writer;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO cityscreen_writer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO cityscreen_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO cityscreen_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO cityscreen_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO cityscreen_writer;

-- The reader may not run the writer's functions (bump_data_version writes).
REVOKE EXECUTE ON FUNCTION bump_data_version(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bump_data_version(bigint) TO cityscreen_writer;
