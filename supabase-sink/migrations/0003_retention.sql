-- Retention: delete rows older than retention_days (healthboard_settings) in bounded batches, so one run
-- never holds long locks or bloats WAL. SECURITY DEFINER owned by healthboard_maintenance: the writer may
-- call it (to prune hourly where pg_cron is missing) but can't delete anything else.
CREATE OR REPLACE FUNCTION healthboard_prune(batch_size integer DEFAULT 10000, max_batches integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    cutoff  timestamptz;
    deleted bigint := 0;
    n       bigint;
BEGIN
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

GRANT healthboard_maintenance TO CURRENT_USER;  -- needed to hand the function over (PG15 without superuser)
ALTER FUNCTION healthboard_prune(integer, integer) OWNER TO healthboard_maintenance;
REVOKE ALL ON FUNCTION healthboard_prune(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION healthboard_prune(integer, integer) TO healthboard_writer, healthboard_maintenance;

-- Where pg_cron exists (Supabase has it), schedule the pruning hourly in the database itself.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cron.schedule('healthboard-retention', '17 * * * *', 'SELECT healthboard_prune()');
    END IF;
END
$$;
