-- A live node renews the lease of everything it holds every second (crates/tocsin-engine
-- src/lease.rs): its claims are found by claim token. (Notifications being sent are few and
-- found through notifications_sending.)
CREATE INDEX escalations_claimed ON escalations (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX monitors_claimed ON monitors (claimed_by) WHERE claimed_by IS NOT NULL;
