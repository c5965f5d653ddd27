//! Integration tests: command-line surface (help, completions, man page).
