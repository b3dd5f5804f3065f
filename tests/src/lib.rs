//! Test and tooling support against the local AWS emulator (moto). Everything here talks to AWS
//! through the same SDK clients as production; only the endpoint differs.

pub mod api;
pub mod codepipeline_standin;
pub mod deployed;
pub mod emulator;
pub mod events;
pub mod faults;
pub mod latency;
pub mod local_api;
pub mod poller;
pub mod request_counter;
pub mod resources;
pub mod rng;
pub mod runtime_stub;
pub mod samples;
pub mod synthetic;
pub mod timing;
pub mod yaml;

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::Context as _;

/// A binary of the workspace built in the running profile: beside a binary such as `dev`, or one
/// folder up from a test executable in `deps/`.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let current = std::env::current_exe()?;
    current
        .ancestors()
        .skip(1)
        .take(2)
        .map(|folder| folder.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "the {name} binary is missing next to {}; build it first (`cargo build --workspace --bins`)",
                current.display()
            )
        })
}

/// Runs `command` to completion off the async runtime's threads.
pub async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's task finished")
        .expect("the command started")
}

/// Exit status, stdout and stderr of a finished command, for an assertion's message.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
