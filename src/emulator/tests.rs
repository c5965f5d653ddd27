//! Emulator tests.
