-- Stream checks (check_name = 'stream'): time to first token, output speed and the longest gap between events,
-- measured by the exporter (healthboard/prober/engine.py, read_stream); quality checks (check_name = 'quality'):
-- the answer's score (healthboard/quality.py). NULL for other checks.
ALTER TABLE llm_checks ADD COLUMN IF NOT EXISTS ttft_ms integer;
ALTER TABLE llm_checks ADD COLUMN IF NOT EXISTS tokens_per_s real;
ALTER TABLE llm_checks ADD COLUMN IF NOT EXISTS max_gap_ms integer;
COMMENT ON COLUMN llm_checks.ttft_ms IS 'stream checks: request start to the first content token, ms';
COMMENT ON COLUMN llm_checks.tokens_per_s IS 'stream checks: output tokens per second after the first token';
COMMENT ON COLUMN llm_checks.max_gap_ms IS 'stream checks: the longest wait between two stream events after the first token, ms';
ALTER TABLE llm_checks ADD COLUMN IF NOT EXISTS quality_score smallint;
COMMENT ON COLUMN llm_checks.quality_score IS 'quality checks: 0-100 for the answer to a known-answer question';
