-- Shift hand-off notices ("you are on call from 09:00"), sent once per shift.
CREATE TABLE handoff_notices (
    schedule_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    shift_start INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, user_id, shift_start)
);
