//! emulator (being written).
