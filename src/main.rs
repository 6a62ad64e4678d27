//! The `strata` binary: parses the command line and hands off to the library.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = strata::cli::Cli::parse();
    let code = match strata::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
