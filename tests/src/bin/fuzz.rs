//! `make fuzz`: schemathesis against the real `api serve` on the emulator, seeded with the sample
//! plugins, rules and pipeline so the generated requests reach stored data. Fails on any 5xx,
//! any status the OpenAPI document does not list, any response that violates its schema, or any
//! schema-valid request the API refuses.
//! `FUZZ_EXAMPLES` (default 50) and `FUZZ_SEED` (default 1) keep a run reproducible.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use pb_tests::api::key_set_json;
use pb_tests::emulator::TestBed;
use pb_tests::local_api::LocalApi;
use pb_tests::resources::SourceBus;

const ORG: &str = "acme";
const KEY_SET_SECRET: &str = "pipeline-builder-fuzz/api-signing-keys";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,schema_valid_request_accepted";
/// Defines `schema_valid_request_accepted`: `positive_data_acceptance` without the refusals no
/// schema can describe (see the file).
const HOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/hooks.py");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let examples = env_or("FUZZ_EXAMPLES", "50");
    let seed = env_or("FUZZ_SEED", "1");
    let schemathesis = std::env::args()
        .nth(1)
        .context("usage: fuzz PATH-TO-SCHEMATHESIS")?;

    let bed = TestBed::named("pipeline-builder-fuzz".into(), &[], SourceBus::Default)
        .await
        .context("creating the local resources (is the emulator fresh?)")?;
    let (keys, _) = key_set_json(&["k1"])?;
    pb_aws::secrets::Secrets::new(bed.clients.secretsmanager.clone())
        .write(KEY_SET_SECRET, &keys.to_string())
        .await?;
    let api = LocalApi::start(&bed.stack, KEY_SET_SECRET, free_port()?).await?;
    let admin = api.mint_token(ORG, "*").await?;
    api.publish_samples(&admin, Path::new("samples/plugins"))
        .await?;
    api.create_pipeline(&admin, Path::new("samples/pipelines/payments-service.json"))
        .await?;
    api.create_rules(&admin, Path::new("samples/rules")).await?;

    let status = Command::new(&schemathesis)
        .env("SCHEMATHESIS_HOOKS", HOOKS)
        .args(["run", &format!("{}/openapi.json", api.url())])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples, "--seed", &seed])
        // No example database: a run is reproduced by its seed alone, as in CI's fresh clone.
        .args(["--generation-database", "none"])
        .args(["--workers", "1", "--no-color"])
        .status()
        .with_context(|| format!("running {schemathesis}"))?;
    if !status.success() {
        bail!("schemathesis found failures ({status})");
    }
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
