-- Replicas that split the work (healthboard/cluster/, README "Scaling out"): one lease row per exporter replica.
-- Every replica of a region heartbeats here through healthboard_cluster_heartbeat(); each probes the targets
-- whose rendezvous hash it wins among the members active at a tick's time (active_from <= t < expires_at).
-- The writer role keeps INSERT-only rights on the history tables: it reaches this table only through the two
-- SECURITY DEFINER functions below, which touch nothing but the caller's own row and read its region's rows.
CREATE TABLE IF NOT EXISTS healthboard_members (
    region      text        NOT NULL,
    member      text        NOT NULL,
    incarnation uuid        NOT NULL,  -- one per process: a second process under the same name is noticed
    joined_at   timestamptz NOT NULL,
    active_from timestamptz NOT NULL,  -- a joining replica owns targets only from here: every other one has seen it by then
    expires_at  timestamptz NOT NULL,  -- renewed by each heartbeat; a killed replica's targets move when it passes
    PRIMARY KEY (region, member)
);

REVOKE ALL ON healthboard_members FROM healthboard_writer, healthboard_reader, healthboard_maintenance;
GRANT SELECT ON healthboard_members TO healthboard_reader;
ALTER TABLE healthboard_members ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS healthboard_reader_select ON healthboard_members;
CREATE POLICY healthboard_reader_select ON healthboard_members FOR SELECT TO healthboard_reader USING (true);
SELECT healthboard_hide_from_api('healthboard_members');

-- One heartbeat: renew (or create) the caller's lease and return its region's live members with the database's
-- clock, so the replicas agree on time without trusting each other's clocks.
--   lease_seconds: how long the lease holds without another heartbeat;
--   join_seconds:  how long a new (or expired) member waits before it owns anything.
-- took_over is true when the row was live under another incarnation (a restart within the lease, or two
-- processes configured with the same member name).
CREATE OR REPLACE FUNCTION healthboard_cluster_heartbeat(p_region text, p_member text, p_incarnation uuid,
                                                         lease_seconds double precision, join_seconds double precision)
RETURNS TABLE (member text, active_from double precision, expires_at double precision, db_now double precision,
               took_over boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
SET statement_timeout = '10s'
AS $$
#variable_conflict use_column
DECLARE
    t0       timestamptz := clock_timestamp();
    previous healthboard_members%ROWTYPE;
    taken    boolean := false;
BEGIN
    IF p_region IS NULL OR p_member IS NULL OR length(p_member) NOT BETWEEN 1 AND 200 OR length(p_region) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'healthboard_cluster_heartbeat: region and member must be 1 to 200 characters';
    END IF;
    IF lease_seconds IS NULL OR lease_seconds NOT BETWEEN 1 AND 3600 OR join_seconds IS NULL OR join_seconds NOT BETWEEN 0 AND lease_seconds THEN
        RAISE EXCEPTION 'healthboard_cluster_heartbeat: lease_seconds must be 1 to 3600 and join_seconds 0 to lease_seconds';
    END IF;
    SELECT * INTO previous FROM healthboard_members m WHERE m.region = p_region AND m.member = p_member FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO healthboard_members VALUES (p_region, p_member, p_incarnation, t0,
            t0 + make_interval(secs => join_seconds), t0 + make_interval(secs => lease_seconds))
        ON CONFLICT (region, member) DO NOTHING;
    ELSIF previous.expires_at <= t0 THEN
        -- expired (the replica was gone): it joins again, after the join delay
        UPDATE healthboard_members m SET incarnation = p_incarnation, joined_at = t0,
            active_from = t0 + make_interval(secs => join_seconds), expires_at = t0 + make_interval(secs => lease_seconds)
        WHERE m.region = p_region AND m.member = p_member;
    ELSE
        taken := previous.incarnation <> p_incarnation;
        UPDATE healthboard_members m SET incarnation = p_incarnation,
            expires_at = greatest(m.expires_at, t0 + make_interval(secs => lease_seconds))
        WHERE m.region = p_region AND m.member = p_member;
    END IF;
    -- members whose lease ended long ago are of no use to anyone
    DELETE FROM healthboard_members m WHERE m.region = p_region AND m.expires_at < t0 - interval '1 day';
    RETURN QUERY
        SELECT m.member, extract(epoch FROM m.active_from)::double precision, extract(epoch FROM m.expires_at)::double precision,
               extract(epoch FROM t0)::double precision, taken
        FROM healthboard_members m WHERE m.region = p_region AND m.expires_at > t0 ORDER BY m.member;
END
$$;

-- A graceful leave: the lease ends after settle_seconds (the others take its targets over from then on; the
-- leaving replica keeps probing until then, so no tick is missed and none is probed twice).
CREATE OR REPLACE FUNCTION healthboard_cluster_leave(p_region text, p_member text, p_incarnation uuid, settle_seconds double precision)
RETURNS double precision
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
SET statement_timeout = '10s'
AS $$
DECLARE
    t0  timestamptz := clock_timestamp();
    out timestamptz;
BEGIN
    IF settle_seconds IS NULL OR settle_seconds NOT BETWEEN 0 AND 3600 THEN
        RAISE EXCEPTION 'healthboard_cluster_leave: settle_seconds must be 0 to 3600';
    END IF;
    UPDATE healthboard_members m SET expires_at = least(m.expires_at, t0 + make_interval(secs => settle_seconds))
    WHERE m.region = p_region AND m.member = p_member AND m.incarnation = p_incarnation
    RETURNING m.expires_at INTO out;
    RETURN extract(epoch FROM coalesce(out, t0))::double precision;
END
$$;

DO $$
DECLARE
    f       regprocedure;
    grantee text;
BEGIN
    FOREACH f IN ARRAY ARRAY['healthboard_cluster_heartbeat(text, text, uuid, double precision, double precision)'::regprocedure,
                             'healthboard_cluster_leave(text, text, uuid, double precision)'::regprocedure] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        FOR grantee IN
            SELECT DISTINCT r.rolname
            FROM pg_proc p, aclexplode(p.proacl) a, pg_roles r
            WHERE p.oid = f AND r.oid = a.grantee AND a.grantee <> p.proowner AND r.rolname <> 'healthboard_writer'
        LOOP
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', f, grantee);
        END LOOP;
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO healthboard_writer', f);
    END LOOP;
END
$$;
