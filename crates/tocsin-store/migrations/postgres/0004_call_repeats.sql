-- "Keep calling every N minutes until I answer": a voice rule may repeat its call.
ALTER TABLE notification_rules ADD COLUMN repeat_every_minutes INTEGER;
