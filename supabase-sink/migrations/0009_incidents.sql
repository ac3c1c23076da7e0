-- Incidents our probes detected (healthboard/history.py), written like the status events: one row per change
-- (opened, became major, resolved), each with an id derived from the incident and the change, so the same change
-- sent again (a retried batch, a restart, several exporters) is stored once. The view llm_incidents folds them
-- into one row per incident, which the status page, the monthly report and Grafana's annotations all read.
-- Retention (healthboard_prune) leaves these rows alone: a few per incident, kept for the history of incidents.
CREATE TABLE IF NOT EXISTS llm_incident_events (
    event_id     uuid        PRIMARY KEY,
    incident_id  uuid        NOT NULL,
    ts           timestamptz NOT NULL,           -- when the change happened
    provider     text        NOT NULL,
    model        text        NOT NULL,
    change       text        NOT NULL,           -- opened | major | resolved
    severity     text        NOT NULL,           -- partial | major (as of this change)
    started_at   timestamptz NOT NULL,           -- the first failed probe
    detected_at  timestamptz NOT NULL,           -- when the incident opened
    ended_at     timestamptz,                    -- resolved: the probe that closed it
    error_types  jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- error type → failed probes, so far
    regions      text[]      NOT NULL DEFAULT '{}',
    instance     text        NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_incident_events_started ON llm_incident_events (started_at);

REVOKE ALL ON llm_incident_events FROM healthboard_writer, healthboard_reader, healthboard_maintenance;
GRANT INSERT ON llm_incident_events TO healthboard_writer;
GRANT SELECT ON llm_incident_events TO healthboard_reader;
GRANT SELECT, DELETE ON llm_incident_events TO healthboard_maintenance;
ALTER TABLE llm_incident_events ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS healthboard_writer_insert ON llm_incident_events;
CREATE POLICY healthboard_writer_insert ON llm_incident_events FOR INSERT TO healthboard_writer WITH CHECK (true);
DROP POLICY IF EXISTS healthboard_reader_select ON llm_incident_events;
CREATE POLICY healthboard_reader_select ON llm_incident_events FOR SELECT TO healthboard_reader, healthboard_maintenance USING (true);
DROP POLICY IF EXISTS healthboard_maintenance_delete ON llm_incident_events;
CREATE POLICY healthboard_maintenance_delete ON llm_incident_events FOR DELETE TO healthboard_maintenance USING (true);

-- One row per incident (several exporters may report one: the earliest start, the latest end, every region).
CREATE OR REPLACE VIEW llm_incidents WITH (security_invoker = true) AS
SELECT incident_id,
       provider, model,
       CASE WHEN bool_or(severity = 'major') THEN 'major' ELSE 'partial' END AS severity,
       min(started_at)                                               AS started_at,
       min(detected_at)                                              AS detected_at,
       max(ended_at)                                                 AS ended_at,  -- NULL until resolved
       (SELECT jsonb_object_agg(k, v) FROM (
            SELECT key AS k, max(value::int) AS v
            FROM llm_incident_events AS e2, jsonb_each_text(e2.error_types)
            WHERE e2.incident_id = e.incident_id GROUP BY key) AS t)  AS error_types,
       (SELECT array_agg(DISTINCT r ORDER BY r) FROM llm_incident_events AS e3, unnest(e3.regions) AS r
        WHERE e3.incident_id = e.incident_id)                        AS regions
FROM llm_incident_events AS e
GROUP BY incident_id, provider, model;
GRANT SELECT ON llm_incidents TO healthboard_reader;
REVOKE ALL ON llm_incidents FROM PUBLIC;
SELECT healthboard_hide_from_api('llm_incident_events', 'llm_incidents');
