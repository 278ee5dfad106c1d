//! `wcheckout`: the gateway binary.

fn main() -> std::process::ExitCode {
    wcheckout::cli::main()
}
