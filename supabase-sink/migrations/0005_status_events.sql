-- Status events from the exporter's official status poller (healthboard/status/poller.py).
-- event_id is derived from what happened (provider, component or incident, status, time), so the same change
-- seen by several exporters (one per region) or re-sent after a restart is stored once.
ALTER TABLE provider_status_events ADD COLUMN IF NOT EXISTS event_id uuid;
ALTER TABLE provider_status_events ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'component';  -- component | incident
ALTER TABLE provider_status_events ADD COLUMN IF NOT EXISTS detection_lead_seconds real;  -- incidents: start minus our alert
CREATE UNIQUE INDEX IF NOT EXISTS provider_status_events_event_id ON provider_status_events (event_id);
COMMENT ON COLUMN provider_status_events.status IS
    'component: operational | degraded_performance | partial_outage | major_outage | under_maintenance; incident: open | resolved';
