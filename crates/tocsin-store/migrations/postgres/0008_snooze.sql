-- Snoozing an acknowledged incident arms its acknowledgement timeout (ack_timeout_at) for the
-- chosen minutes; this says the timeout is a snooze, for the timeline.
ALTER TABLE escalations ADD COLUMN snoozed BOOLEAN NOT NULL DEFAULT FALSE;
