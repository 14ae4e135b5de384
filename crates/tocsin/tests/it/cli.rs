//! The command line, run as the real binary.
