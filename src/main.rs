//! The `pzctl` binary.

fn main() -> std::process::ExitCode {
    pzctl::cli::main()
}
