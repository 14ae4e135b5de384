-- Priority lanes: high-urgency work is claimed before low-urgency work, whatever its age, so a
-- storm of low-urgency alerts never delays a high-urgency page (no head-of-line blocking).
-- priority: 1 for high urgency (and meta-alerts to admins), 0 for low.
ALTER TABLE escalations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- Set when the dispatcher postponed a notification to a send slot it reserved in the
-- destination's budget: at that slot it is sent without taking from the budget again.
ALTER TABLE notifications ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;

UPDATE escalations SET priority = 1
 WHERE incident_id IN (SELECT id FROM incidents WHERE urgency = 'high');
UPDATE notifications SET priority = 1
 WHERE incident_id IN (SELECT id FROM incidents WHERE urgency = 'high');

DROP INDEX escalations_due;
CREATE INDEX escalations_lane ON escalations(priority, due_at) WHERE due_at IS NOT NULL;
DROP INDEX notifications_due;
CREATE INDEX notifications_lane ON notifications(priority, due_at) WHERE state = 'queued';
