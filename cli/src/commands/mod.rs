//! One module per resource; each command is one API call or a short, stated sequence of them.

mod account;
mod catalog;
mod compliance;
mod operations;
mod pipelines;
mod reports;

use std::io::IsTerminal as _;

use serde::Serialize;

use crate::args::{Cli, Command};
use crate::client::Api;
use crate::config::{config_path, Config};
use crate::error::CliError;

/// What every command may use: the output mode and the profile's client.
pub struct Context {
    pub json: bool,
    pub profile: String,
}

impl Context {
    pub fn api(&self) -> Result<Api, CliError> {
        let config = Config::load(&config_path()?)?;
        let profile = config.profile(&self.profile)?;
        Api::new(&profile.url, &profile.token)
    }

    /// The API's answer as JSON on stdout.
    pub fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|error| CliError::Usage(format!("cannot encode the answer: {error}")))?;
        println!("{text}");
        Ok(())
    }
}

/// Progress on stderr, only for a person watching a terminal.
pub fn progress(message: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{message}");
    }
}

pub fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

/// Runs the command; the exit status when it finished, the error when it could not.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let context = Context {
        json: cli.json,
        profile: cli.profile,
    };
    match cli.command {
        Command::Login(args) => account::login(&context, args).await,
        Command::Whoami => account::whoami(&context).await,
        Command::Tokens(command) => account::tokens(&context, command).await,
        Command::Plugins(command) => catalog::plugins(&context, command).await,
        Command::Pipelines(command) => pipelines::run(&context, command).await,
        Command::Rules(command) => compliance::rules(&context, command).await,
        Command::Exemptions(command) => compliance::exemptions(&context, command).await,
        Command::Registry(command) => operations::registry(&context, command).await,
        Command::Audit(command) => operations::audit(&context, command).await,
        Command::Executions(command) => operations::executions(&context, command).await,
        Command::Reports(args) => reports::run(&context, args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "pb", &mut std::io::stdout());
            Ok(0)
        }
    }
}
