-- Least-privilege roles. Created NOLOGIN; give each a password to log in:
--   ALTER ROLE healthboard_writer LOGIN PASSWORD '...';   (the exporter's sink)
--   ALTER ROLE healthboard_reader LOGIN PASSWORD '...';   (Grafana)
--   healthboard_maintenance owns the retention function; it needs no login.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthboard_writer') THEN
        CREATE ROLE healthboard_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthboard_reader') THEN
        CREATE ROLE healthboard_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthboard_maintenance') THEN
        CREATE ROLE healthboard_maintenance NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO healthboard_writer, healthboard_reader, healthboard_maintenance;

-- Writer: INSERT only. No SELECT, UPDATE or DELETE: a leaked sink key can't read or erase history.
REVOKE ALL ON llm_checks, provider_status_events, healthboard_settings FROM healthboard_writer;
GRANT INSERT ON llm_checks, provider_status_events TO healthboard_writer;

-- Reader (Grafana): SELECT only.
REVOKE ALL ON llm_checks, provider_status_events, healthboard_settings FROM healthboard_reader;
GRANT SELECT ON llm_checks, provider_status_events TO healthboard_reader;

-- Maintenance: retention deletes.
REVOKE ALL ON llm_checks, provider_status_events, healthboard_settings FROM healthboard_maintenance;
GRANT SELECT, DELETE ON llm_checks, provider_status_events TO healthboard_maintenance;
GRANT SELECT ON healthboard_settings TO healthboard_maintenance;

-- Row level security: on, with policies only for our roles. Supabase's API roles (anon, authenticated)
-- get no policy, so even where Supabase's default grants let them query a table, they see no rows.
ALTER TABLE llm_checks ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_status_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE healthboard_settings ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS healthboard_writer_insert ON llm_checks;
CREATE POLICY healthboard_writer_insert ON llm_checks FOR INSERT TO healthboard_writer WITH CHECK (true);
DROP POLICY IF EXISTS healthboard_reader_select ON llm_checks;
CREATE POLICY healthboard_reader_select ON llm_checks FOR SELECT TO healthboard_reader, healthboard_maintenance USING (true);
DROP POLICY IF EXISTS healthboard_maintenance_delete ON llm_checks;
CREATE POLICY healthboard_maintenance_delete ON llm_checks FOR DELETE TO healthboard_maintenance USING (true);

DROP POLICY IF EXISTS healthboard_writer_insert ON provider_status_events;
CREATE POLICY healthboard_writer_insert ON provider_status_events FOR INSERT TO healthboard_writer WITH CHECK (true);
DROP POLICY IF EXISTS healthboard_reader_select ON provider_status_events;
CREATE POLICY healthboard_reader_select ON provider_status_events FOR SELECT TO healthboard_reader, healthboard_maintenance USING (true);
DROP POLICY IF EXISTS healthboard_maintenance_delete ON provider_status_events;
CREATE POLICY healthboard_maintenance_delete ON provider_status_events FOR DELETE TO healthboard_maintenance USING (true);

DROP POLICY IF EXISTS healthboard_maintenance_select ON healthboard_settings;
CREATE POLICY healthboard_maintenance_select ON healthboard_settings FOR SELECT TO healthboard_maintenance USING (true);

-- On Supabase, take back the default grants to the API roles as well (belt and braces with RLS).
-- One helper, used here, by 0004 for the views and by `healthboard migrate` for its tracking table.
CREATE OR REPLACE FUNCTION healthboard_hide_from_api(VARIADIC relations regclass[])
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    r   text;
    rel regclass;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            FOREACH rel IN ARRAY relations LOOP
                EXECUTE format('REVOKE ALL ON %s FROM %I', rel, r);
            END LOOP;
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION healthboard_hide_from_api(regclass[]) FROM PUBLIC;

SELECT healthboard_hide_from_api('llm_checks', 'provider_status_events', 'healthboard_settings');
