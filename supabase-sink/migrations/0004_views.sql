-- Views for the 30-day history dashboard. security_invoker: they run with the caller's privileges and RLS,
-- so the reader sees them and Supabase's API roles see nothing.
-- Ratios count scheduled probes only (re-checks would over-weight failures), and "outage" failures leave
-- out our own misconfiguration (auth, quota, not_found, bad_request) and rate limiting, as the alerts do.

CREATE OR REPLACE VIEW llm_checks_hourly WITH (security_invoker = true) AS
SELECT date_trunc('hour', ts)                                         AS hour,
       provider, model, region, check_name,
       count(*) FILTER (WHERE scheduled)                              AS requests,
       count(*) FILTER (WHERE scheduled AND NOT ok)                   AS failures,
       count(*) FILTER (WHERE scheduled AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS outage_failures,
       (count(*) FILTER (WHERE scheduled AND NOT ok))::float8 / nullif(count(*) FILTER (WHERE scheduled), 0) AS error_ratio,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p99_ms
FROM llm_checks
GROUP BY 1, provider, model, region, check_name;

CREATE OR REPLACE VIEW llm_checks_daily WITH (security_invoker = true) AS
SELECT date_trunc('day', ts)                                          AS day,
       provider, model, region, check_name,
       count(*) FILTER (WHERE scheduled)                              AS requests,
       count(*) FILTER (WHERE scheduled AND NOT ok)                   AS failures,
       count(*) FILTER (WHERE scheduled AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS outage_failures,
       (count(*) FILTER (WHERE scheduled AND NOT ok))::float8 / nullif(count(*) FILTER (WHERE scheduled), 0) AS error_ratio,
       1 - (count(*) FILTER (WHERE scheduled AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')))::float8
           / nullif(count(*) FILTER (WHERE scheduled), 0)              AS availability,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok AND scheduled) AS p99_ms
FROM llm_checks
GROUP BY 1, provider, model, region, check_name;

CREATE OR REPLACE VIEW llm_recent_failures WITH (security_invoker = true) AS
SELECT ts, provider, model, region, check_name, http_status, error_type, latency_ms, request_id, error_message, instance
FROM llm_checks
WHERE NOT ok
ORDER BY ts DESC
LIMIT 20;

CREATE OR REPLACE VIEW llm_provider_comparison_30d WITH (security_invoker = true) AS
WITH recent AS (
    SELECT * FROM llm_checks WHERE ts >= now() - interval '30 days' AND scheduled
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

GRANT SELECT ON llm_checks_hourly, llm_checks_daily, llm_recent_failures, llm_provider_comparison_30d TO healthboard_reader;
REVOKE ALL ON llm_checks_hourly, llm_checks_daily, llm_recent_failures, llm_provider_comparison_30d FROM PUBLIC;
SELECT healthboard_hide_from_api('llm_checks_hourly', 'llm_checks_daily', 'llm_recent_failures', 'llm_provider_comparison_30d');
