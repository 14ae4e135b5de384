//! Crash safety, with the real binary.
