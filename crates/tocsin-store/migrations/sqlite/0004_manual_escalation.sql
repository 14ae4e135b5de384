-- A level a human asked for (0-based): the next step notifies it instead of the next in turn.
ALTER TABLE escalations ADD COLUMN manual_level INTEGER;
