-- Phone numbers are verified with a code before first use: the code's hash, its expiry, and
-- how many wrong guesses were made.
ALTER TABLE contact_methods ADD COLUMN verify_code_hash TEXT;
ALTER TABLE contact_methods ADD COLUMN verify_expires_at INTEGER;
ALTER TABLE contact_methods ADD COLUMN verify_attempts INTEGER NOT NULL DEFAULT 0;
