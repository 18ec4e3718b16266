//! CLI tests (filled in with the binary).
