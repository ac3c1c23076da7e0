-- Maintenance windows (the exporter's config `maintenance:`; healthboard/maintenance.py): a check made during a
-- window is flagged, and availability leaves it out, here as on the status page and in the monthly report.
ALTER TABLE llm_checks ADD COLUMN IF NOT EXISTS maintenance boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN llm_checks.maintenance IS 'probed during a configured maintenance window: left out of availability';

-- The views of 0004, with requests counting scheduled probes outside maintenance windows. Same columns, so
-- CREATE OR REPLACE keeps their grants, and 0004 applied again (migrations are idempotent) still works.
CREATE OR REPLACE VIEW llm_checks_hourly WITH (security_invoker = true) AS
SELECT date_trunc('hour', ts)                                         AS hour,
       provider, model, region, check_name,
       count(*) FILTER (WHERE scheduled AND NOT maintenance)          AS requests,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok) AS failures,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS outage_failures,
       (count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok))::float8
           / nullif(count(*) FILTER (WHERE scheduled AND NOT maintenance), 0) AS error_ratio,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p99_ms
FROM llm_checks
GROUP BY 1, provider, model, region, check_name;

CREATE OR REPLACE VIEW llm_checks_daily WITH (security_invoker = true) AS
SELECT date_trunc('day', ts)                                          AS day,
       provider, model, region, check_name,
       count(*) FILTER (WHERE scheduled AND NOT maintenance)          AS requests,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok) AS failures,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS outage_failures,
       (count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok))::float8
           / nullif(count(*) FILTER (WHERE scheduled AND NOT maintenance), 0) AS error_ratio,
       1 - (count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')))::float8
           / nullif(count(*) FILTER (WHERE scheduled AND NOT maintenance), 0) AS availability,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p99_ms
FROM llm_checks
GROUP BY 1, provider, model, region, check_name;

CREATE OR REPLACE VIEW llm_provider_comparison_30d WITH (security_invoker = true) AS
WITH recent AS (
    SELECT * FROM llm_checks WHERE ts >= now() - interval '30 days' AND scheduled AND NOT maintenance
), mix AS (
    SELECT provider, jsonb_object_agg(error_type, n ORDER BY error_type) AS failure_mix
    FROM (SELECT provider, error_type, count(*) AS n FROM recent WHERE NOT ok GROUP BY provider, error_type) AS by_type
    GROUP BY provider
)
SELECT r.provider,
       count(*)                                                       AS requests,
       count(*) FILTER (WHERE NOT r.ok)                               AS failures,
       1 - (count(*) FILTER (WHERE NOT r.ok
                AND r.error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')))::float8 / count(*) AS availability,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.ok) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.ok) AS p95_ms,
       coalesce(m.failure_mix, '{}'::jsonb)                            AS failure_mix
FROM recent AS r LEFT JOIN mix AS m USING (provider)
GROUP BY r.provider, m.failure_mix;
