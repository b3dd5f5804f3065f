//! `pb`, the command-line client of the pipeline-builder API.

mod args;
mod client;
mod commands;
mod config;
mod error;
mod files;
mod render;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The aws-lc provider the workspace already builds; reqwest is built without one of its own.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("pb: could not install the TLS provider");
        return ExitCode::from(error::EXIT_SERVER);
    }
    match commands::run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("pb: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
