//! `farmlokal`: see `farmlokal --help`. Everything lives in the library; this only parses and runs.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = farmlokal::app::cli::Cli::parse();
    match farmlokal::app::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("farmlokal: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
