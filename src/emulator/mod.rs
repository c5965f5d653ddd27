//! The emulator (being written).
