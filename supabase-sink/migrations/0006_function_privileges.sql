-- Functions: only our roles may call them, and the pruning function takes bounded arguments.
--
-- Supabase's default privileges (ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon,
-- authenticated, service_role) grant EXECUTE on every new function to the API roles directly, not through
-- PUBLIC, so 0003's REVOKE ... FROM PUBLIC left anon and authenticated able to call the SECURITY DEFINER
-- healthboard_prune() over the REST API. Here every grantee but the owner and our own roles loses it.

CREATE OR REPLACE FUNCTION healthboard_prune(batch_size integer DEFAULT 10000, max_batches integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
SET statement_timeout = '300s'
AS $$
DECLARE
    cutoff  timestamptz;
    deleted bigint := 0;
    n       bigint;
BEGIN
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 50000 THEN
        RAISE EXCEPTION 'healthboard_prune: batch_size must be between 1 and 50000, got %', batch_size;
    END IF;
    IF max_batches IS NULL OR max_batches NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'healthboard_prune: max_batches must be between 1 and 10000, got %', max_batches;
    END IF;
    SELECT now() - make_interval(days => value::integer) INTO cutoff FROM healthboard_settings WHERE key = 'retention_days';
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'healthboard_settings has no retention_days';
    END IF;
    FOR i IN 1..max_batches LOOP
        DELETE FROM llm_checks WHERE id IN (SELECT id FROM llm_checks WHERE ts < cutoff LIMIT batch_size);
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
        EXIT WHEN n < batch_size;
    END LOOP;
    DELETE FROM provider_status_events WHERE ts < cutoff;
    RETURN deleted;
END
$$;

DO $$
DECLARE
    f       regprocedure;
    grantee text;
BEGIN
    FOREACH f IN ARRAY ARRAY['healthboard_prune(integer, integer)'::regprocedure, 'healthboard_hide_from_api(regclass[])'::regprocedure] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        FOR grantee IN
            SELECT DISTINCT r.rolname
            FROM pg_proc p, aclexplode(p.proacl) a, pg_roles r
            WHERE p.oid = f AND r.oid = a.grantee AND a.grantee <> p.proowner
              AND r.rolname NOT IN ('healthboard_writer', 'healthboard_maintenance')
        LOOP
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', f, grantee);
        END LOOP;
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION healthboard_prune(integer, integer) TO healthboard_writer, healthboard_maintenance;
