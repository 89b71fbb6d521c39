//! `farmlokal`: see `farmlokal --help`. Everything lives in the library; this only parses and runs.

use clap::Parser;

/// mimalloc instead of the system allocator: a request allocates about 70 times (callgrind), and glibc's
/// malloc and free were a quarter of a hot listing's instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = farmlokal::startup::cli::Cli::parse();
    match farmlokal::startup::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("farmlokal: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
