//! What the `api` binary does outside Lambda: serve the router on a local port, mint the
//! first admin token from the key set in Secrets Manager (`api mint-token`), and give public
//! plugin names published before ownership existed their owner (`api migrate-public-names`).

use std::net::SocketAddr;

use axum::Router;
use pb_aws::config::TokenConfig;
use pb_aws::plugins::{OwnershipRepairReport, PluginCatalog};
use pb_aws::secrets::Secrets;
use pb_aws::{AwsError, Clients};
use thiserror::Error;

use crate::auth::is_valid_org_id;
use crate::keys::{KeySet, KeySetError};
use crate::tokens::{mint, Audience, Grant, Minted, TokenError};

pub const MINT_USAGE: &str = "usage: api mint-token --org ORG --perms PERM[,PERM…] \
[--subject SUB] [--days 1-365] [--scope SCOPE]";

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}\n{MINT_USAGE}")]
    Usage(String),
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintArgs {
    pub org: String,
    pub perms: Vec<String>,
    pub subject: String,
    pub days: u32,
    pub scope: Option<String>,
}

pub fn parse_mint_args(args: &[String]) -> Result<MintArgs, CliError> {
    let mut org = None;
    let mut perms = None;
    let mut subject = "admin".to_string();
    let mut days = 1;
    let mut scope = None;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--org" => org = Some(value.clone()),
            "--perms" => {
                perms = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                )
            }
            "--subject" => subject = value.clone(),
            "--days" => {
                days = value
                    .parse()
                    .map_err(|_| CliError::Usage(format!("--days {value} is not a number")))?
            }
            "--scope" => scope = Some(value.clone()),
            other => return Err(CliError::Usage(format!("unknown option {other}"))),
        }
    }
    let org = org.ok_or_else(|| CliError::Usage("--org is required".into()))?;
    if !is_valid_org_id(&org) {
        return Err(CliError::Usage(format!(
            "--org {org:?} must be 1-64 letters, digits, '-' or '_', and not a reserved id ({})",
            crate::auth::RESERVED_ORG_IDS.join(", ")
        )));
    }
    let perms = perms
        .filter(|p| !p.is_empty())
        .ok_or_else(|| CliError::Usage("--perms is required".into()))?;
    if subject.trim().is_empty() {
        // The API refuses a blank subject; minting one would only hand out a dead token.
        return Err(CliError::Usage("--subject must not be blank".into()));
    }
    Ok(MintArgs {
        org,
        perms,
        subject,
        days,
        scope,
    })
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
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_mint_options_with_defaults() {
        let parsed = parse_mint_args(&args("--org acme --perms plugins:*,tokens:create")).unwrap();
        assert_eq!(
            parsed,
            MintArgs {
                org: "acme".into(),
                perms: vec!["plugins:*".into(), "tokens:create".into()],
                subject: "admin".into(),
                days: 1,
                scope: None,
            }
        );
    }

    #[test]
    fn explains_bad_options() {
        for (bad, says) in [
            ("--perms *", "--org is required"),
            ("--org acme", "--perms is required"),
            ("--org a/b --perms *", "must be 1-64"),
            ("--org acme --perms * --days x", "not a number"),
            ("--org acme --perms * --color red", "unknown option"),
            ("--org", "needs a value"),
        ] {
            let error = parse_mint_args(&args(bad)).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let blank_subject = ["--org", "acme", "--perms", "*", "--subject", " "].map(String::from);
        let error = parse_mint_args(&blank_subject).unwrap_err().to_string();
        assert!(error.contains("--subject must not be blank"), "{error}");
    }
}
