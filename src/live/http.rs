//! The HTTP client for the hosted Personalize Management API and the emulator.
