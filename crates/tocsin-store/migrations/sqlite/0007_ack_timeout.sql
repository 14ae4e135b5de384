-- An acknowledgement that is not followed by a resolution within this many minutes triggers
-- the incident again (per service, optional).
ALTER TABLE services ADD COLUMN ack_timeout_minutes INTEGER;
ALTER TABLE escalations ADD COLUMN ack_timeout_at INTEGER;
CREATE INDEX escalations_ack_timeout ON escalations(ack_timeout_at) WHERE ack_timeout_at IS NOT NULL;
