-- Notifications whose sender's lease may have run out, found without scanning the table.
CREATE INDEX notifications_sending ON notifications(claimed_until) WHERE state = 'sending';
