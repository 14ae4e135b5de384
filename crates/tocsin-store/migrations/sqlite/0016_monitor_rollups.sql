-- Monitor history rolled up per hour and per day (results themselves are kept for the last
-- 10,000 checks): uptime over 24 h / 7 d / 30 d / 90 d and response-time series read these.
-- Hourly rows are kept 35 days, daily rows 400 days.
CREATE TABLE monitor_rollups (
    monitor_id TEXT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    -- 'hour' or 'day' (UTC), and the bucket's start (epoch ms).
    span TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    latency_count INTEGER NOT NULL,
    latency_max_ms INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, span, bucket)
) WITHOUT ROWID;
