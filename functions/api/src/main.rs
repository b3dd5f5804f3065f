//! The `api` binary: in Lambda it serves API Gateway; elsewhere it serves the same router on a
//! local port (`api serve`, the default), mints a token (`api mint-token …`) or repairs public
//! plugin names published before they had owners (`api migrate-public-names`).

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser as _;
use pb_api::cli::{migrate_public_names, mint_token, serve_local, Cli, Command, MintArgs};
use pb_api::{router, AppState};
use pb_aws::clients::{load_sdk_config, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, ApiConfig, TokenConfig};
use pb_aws::runtime;
use pb_aws::secrets::Secrets;
use pb_aws::Clients;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::init_lambda_logging();
    match Cli::parse().command {
        Some(Command::MintToken(args)) => mint(args).await,
        Some(Command::MigratePublicNames) => migrate().await,
        Some(Command::Serve) | None => serve().await,
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = ApiConfig::from_env().context("API configuration")?;
    let timeouts = sdk_timeouts_from_env(SdkTimeouts::API).context("API configuration")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let state = AppState::new(&clients, config);
    if runtime::in_lambda() {
        // The first TLS handshake and key read happen during init, not in the first request.
        if let Err(error) = state.keys.current().await {
            tracing::error!(error = %error, "could not read the signing key set during init");
        }
        return lambda_http::run(router(state))
            .await
            .map_err(|e| anyhow::anyhow!(e));
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse().context("PORT must be a port number"))
        .transpose()?
        .unwrap_or(3000);
    serve_local(SocketAddr::from(([127, 0, 0, 1], port)), router(state)).await?;
    Ok(())
}

async fn mint(parsed: MintArgs) -> anyhow::Result<()> {
    let config = TokenConfig::from_env().context("token configuration")?;
    let timeouts = sdk_timeouts_from_env(SdkTimeouts::API).context("token configuration")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let secrets = Secrets::new(clients.secretsmanager.clone());
    let minted = mint_token(parsed, &secrets, &config, chrono::Utc::now().timestamp()).await?;
    println!("{}", minted.token);
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let table = std::env::var("CATALOG_TABLE").context("CATALOG_TABLE must name the catalog")?;
    // A batch over the whole catalog: the audit's longer per-call budget, not a request's.
    let timeouts = sdk_timeouts_from_env(SdkTimeouts::AUDIT).context("SDK timeouts")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let report = migrate_public_names(&clients, &table).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
