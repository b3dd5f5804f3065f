//! The command line, as clap derives it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::config::DEFAULT_PROFILE;

/// pb: the command-line client of pipeline-builder.
///
/// Exit status: 0 ok; 1 refused, compliance violations or audit findings; 2 usage or
/// configuration; 3 authentication or permission; 4 not found; 5 server or network.
#[derive(Debug, Parser)]
#[command(name = "pb", version, propagate_version = true)]
pub struct Cli {
    /// The configured profile to use.
    #[arg(long, global = true, env = "PB_PROFILE", default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Print the API's answer as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store the API URL and a token for the profile (the token from --token, PB_TOKEN or stdin).
    Login(LoginArgs),
    /// Who the stored token says you are: org, subject, permissions, expiry.
    Whoami,
    /// The plugin catalog.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Pipeline definitions, their templates and deployments.
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// Compliance rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Exemptions from compliance rules.
    #[command(subcommand)]
    Exemptions(ExemptionsCommand),
    /// The deployment registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The nightly stack audit.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Execution and plugin reports from the daily rollups.
    Reports(ReportArgs),
    /// Machine tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// A pipeline's execution history.
    #[command(subcommand)]
    Executions(ExecutionsCommand),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The API's base URL, e.g. http://127.0.0.1:3000.
    #[arg(long)]
    pub url: String,
    /// The bearer token; PB_TOKEN, or one line on stdin, when absent.
    #[arg(long, env = "PB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Publish plugin-spec.yaml files, or every spec in a directory.
    Publish {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// The plugins visible to your org, latest version each.
    List,
    /// A plugin's latest version in full.
    Show { name: String },
    /// Every version of a plugin.
    Versions { name: String },
    /// Resolve NAME@RANGE references as a pipeline stack would.
    Lookup {
        #[arg(required = true, value_name = "NAME@RANGE")]
        references: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelinesCommand {
    /// Create or update the pipeline a file describes, found by its name.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Only update if the stored version is still this one (its ETag).
        #[arg(long, value_name = "VERSION")]
        if_match: Option<u64>,
    },
    /// Check a definition against the org's compliance rules without storing it.
    Validate {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// The org's pipelines and other orgs' public ones.
    List,
    /// A stored pipeline.
    Show { id: String },
    /// Delete a pipeline.
    Delete {
        id: String,
        /// Delete it even though it is registered as deployed (the stack stays).
        #[arg(long)]
        force: bool,
    },
    /// The CloudFormation template the pipeline deploys as.
    Template {
        id: String,
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
    /// Deploy the stored definition.
    Deploy {
        id: String,
        /// Follow the deployment until the stack settles.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Create or replace the rules in a file or a directory of files, found by name.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// The org's rules.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ExemptionsCommand {
    /// Ask for an exemption from a rule for one pipeline id or plugin name.
    Request {
        /// The rule's id (pb rules list).
        #[arg(long)]
        rule: String,
        /// The pipeline id or plugin name it is for.
        #[arg(long)]
        entity: String,
        /// Why the rule cannot be met yet.
        #[arg(long)]
        reason: String,
        /// When it ends (RFC 3339), at most a year away.
        #[arg(long)]
        expires_at: String,
    },
    /// Approve someone else's request.
    Approve {
        /// The exemption's id.
        id: String,
    },
    /// The org's exemptions.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Every registered (deployed) pipeline.
    List,
    /// One pipeline's registry entry.
    Show { pipeline_id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The latest run's findings for your org (exit 1 when there are any).
    Latest,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(value_enum)]
    pub report: Report,
    /// First day (YYYY-MM-DD) or instant.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD) or instant.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum)]
    pub interval: Option<Interval>,
    /// Most rows.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only this pipeline (execution reports and dora).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Only the pipelines of this project (dora).
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Report {
    ExecutionCount,
    SuccessRate,
    Timeline,
    Duration,
    StageFailures,
    StageBottlenecks,
    ActionFailures,
    Errors,
    PluginsSummary,
    PluginsDistribution,
    PluginsVersions,
    PluginsBuildSuccessRate,
    PluginsBuildDuration,
    PluginsBuildFailures,
    /// DORA's four keys over production deployments, with their tiers.
    Dora,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Interval {
    Day,
    Week,
    Month,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Mint a machine token; with --store, the platform token, written to Secrets Manager.
    Create {
        /// What the token is for, e.g. deploy:ci.
        #[arg(long, required_unless_present = "store")]
        scope: Option<String>,
        /// Its permissions, each one you hold yourself, e.g. plugins:read pipelines:deploy.
        #[arg(long, num_args = 1.., required_unless_present = "store")]
        perms: Vec<String>,
        /// Lifetime in days, 1-365 (default 30), never past your own token's expiry.
        #[arg(long)]
        days: Option<u32>,
        /// Store the platform token where pipeline stacks read it; the token is not printed.
        #[arg(long)]
        store: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// A pipeline's executions, newest first.
    List {
        pipeline_id: String,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One execution with every stage and action attempt.
    Show {
        pipeline_id: String,
        execution_id: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
