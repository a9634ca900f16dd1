//! The `acttrace` command-line tool. See `acttrace --help`.

fn main() -> std::process::ExitCode {
    acttrace::cli::main()
}
