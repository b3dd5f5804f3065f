//! What the `api` binary does outside Lambda: serve the router on a local port, mint the
//! first admin token from the key set in Secrets Manager (`api mint-token`), and give public
//! plugin names published before ownership existed their owner (`api migrate-public-names`).

use std::net::SocketAddr;

use axum::Router;
use clap::{Args, Parser, Subcommand};
use pb_aws::config::TokenConfig;
use pb_aws::plugins::{OwnershipRepairReport, PluginCatalog};
use pb_aws::secrets::Secrets;
use pb_aws::{AwsError, Clients};
use thiserror::Error;

use crate::auth::is_valid_org_id;
use crate::keys::{KeySet, KeySetError};
use crate::tokens::{mint, Audience, Grant, Minted, TokenError};

/// The `api` command line. Without a command it serves, as Lambda starts it.
#[derive(Debug, Parser)]
#[command(
    name = "api",
    version,
    about = "The pipeline-builder API: in Lambda, or on a local port"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the router on 127.0.0.1:$PORT (default 3000) until Ctrl-C; in Lambda, serve API
    /// Gateway.
    Serve,
    /// Sign a token with the active key of the key set in Secrets Manager (KEY_SET_SECRET_ID)
    /// and print it.
    MintToken(MintArgs),
    /// Give public plugin names published before names had owners their earliest publisher
    /// (CATALOG_TABLE); prints what changed as JSON.
    MigratePublicNames,
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MintArgs {
    /// The org the token is for.
    #[arg(long, value_parser = org_id)]
    pub org: String,
    /// Comma-separated permissions, e.g. `plugins:*,tokens:create`, or `*`.
    #[arg(long, required = true, value_delimiter = ',', value_parser = permission)]
    pub perms: Vec<String>,
    #[arg(long, default_value = "admin", value_parser = subject)]
    pub subject: String,
    /// Lifetime in days, 1-365.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// What a machine token is for; absent for a person's token.
    #[arg(long)]
    pub scope: Option<String>,
}

fn org_id(org: &str) -> Result<String, String> {
    if is_valid_org_id(org) {
        Ok(org.to_string())
    } else {
        Err(format!(
            "must be 1-64 letters, digits, '-' or '_', and not a reserved id ({})",
            crate::auth::RESERVED_ORG_IDS.join(", ")
        ))
    }
}

fn permission(permission: &str) -> Result<String, String> {
    let permission = permission.trim();
    if permission.is_empty() {
        Err("an empty permission is not one".into())
    } else {
        Ok(permission.to_string())
    }
}

/// The API refuses a blank subject; minting one would only hand out a dead token.
fn subject(subject: &str) -> Result<String, String> {
    if subject.trim().is_empty() {
        Err("must not be blank".into())
    } else {
        Ok(subject.to_string())
    }
}

/// Signs a token with the active key of the deployed key set.
pub async fn mint_token(
    args: MintArgs,
    secrets: &Secrets,
    config: &TokenConfig,
    now: i64,
) -> Result<Minted, CliError> {
    let keys = KeySet::parse(
        &secrets
            .read(&config.key_set_secret_id)
            .await
            .map_err(KeySetError::from)?,
    )?;
    let audience = Audience {
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
    };
    let grant = Grant {
        sub: args.subject,
        org: args.org,
        perms: args.perms,
        scope: args.scope,
        lifetime_days: args.days,
    };
    Ok(mint(&keys, &audience, grant, now)?)
}

/// Where two orgs published one public name before names had owners, the earliest publisher
/// keeps it and the other org's versions become private to it. Safe to run again: a second run
/// reports nothing changed.
pub async fn migrate_public_names(
    clients: &Clients,
    catalog_table: &str,
) -> Result<OwnershipRepairReport, AwsError> {
    let report = PluginCatalog::new(clients.dynamodb.clone(), catalog_table)
        .repair_public_names()
        .await?;
    tracing::info!(
        owners_recorded = report.owners_recorded.len(),
        made_private = report.made_private.len(),
        "public plugin names repaired"
    );
    Ok(report)
}

/// Serves `router` on `address` until Ctrl-C.
pub async fn serve_local(address: SocketAddr, router: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "serving the API locally");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("api").chain(line.split_whitespace()))
    }

    #[test]
    fn serves_without_a_command_and_parses_mint_options_with_defaults() {
        Cli::command().debug_assert();
        assert_eq!(parse("").unwrap().command, None);
        assert_eq!(parse("serve").unwrap().command, Some(Command::Serve));
        assert_eq!(
            parse("mint-token --org acme --perms plugins:*,tokens:create")
                .unwrap()
                .command,
            Some(Command::MintToken(MintArgs {
                org: "acme".into(),
                perms: vec!["plugins:*".into(), "tokens:create".into()],
                subject: "admin".into(),
                days: 1,
                scope: None,
            }))
        );
    }

    #[test]
    fn explains_bad_options() {
        for (bad, says) in [
            ("mint-token --perms *", "--org <ORG>"),
            ("mint-token --org acme", "--perms <PERMS>"),
            ("mint-token --org a/b --perms *", "must be 1-64"),
            ("mint-token --org acme --perms * --days x", "invalid digit"),
            ("mint-token --org acme --perms * --color red", "--color"),
            ("mint-token --org", "a value is required"),
            ("unknown", "unrecognized subcommand"),
        ] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let blank_subject = [
            "api",
            "mint-token",
            "--org",
            "acme",
            "--perms",
            "*",
            "--subject",
            " ",
        ];
        let error = Cli::try_parse_from(blank_subject).unwrap_err().to_string();
        assert!(error.contains("must not be blank"), "{error}");
    }
}
