//! `wcheckout`: the gateway binary.

/// mimalloc rather than the system allocator: order creation's profile spent a tenth of its
/// CPU in glibc's malloc and free (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wcheckout::cli::main()
}
