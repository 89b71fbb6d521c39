//! `farmlokal`: see `farmlokal --help`. Everything lives in the library; this only parses and runs.

use clap::Parser;

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
