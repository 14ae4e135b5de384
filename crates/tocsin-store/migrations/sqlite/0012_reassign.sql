-- A human reassigned the incident to a person: the next step pages them (instead of the next
-- level), then the escalation goes on from the level it was at.
ALTER TABLE escalations ADD COLUMN reassign_to TEXT;
