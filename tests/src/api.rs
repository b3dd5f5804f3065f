//! The API router on a test bed: its own tables and signing key set in the emulator, requests
//! sent straight into the router (the same one Lambda and `make dev` serve).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::codepipeline_standin::CodePipelineStandIn;
use crate::resources::SourceBus;
use anyhow::Context as _;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use pb_api::keys::KeySet;
use pb_api::tokens::{mint, random_id, Audience, Grant};
use pb_api::{router, AppState};
use pb_aws::config::{ApiConfig, RegionConfig, TokenConfig};
use pb_aws::pipeline_control::PipelineControl;
use pb_aws::secrets::Secrets;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::emulator::TestBed;

pub const ISSUER: &str = "pipeline-builder";
pub const AUDIENCE: &str = "pipeline-builder-api";
/// Small enough that the body-limit tests stay quick.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_YAML_BODY_BYTES: usize = 32 * 1024;

pub struct ApiBed {
    pub bed: TestBed,
    pub state: AppState,
    pub router: Router,
    pub key_set_secret: String,
    pub secrets: Secrets,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The fields a validation problem names, in order (none when the body lists no errors).
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn sample_plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/plugins")
}

/// The spec of the sample plugin `name` under `samples/plugins/`, as YAML.
pub fn sample_plugin(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = sample_plugins_dir().join(format!("{name}.yaml"));
    std::fs::read(&path).with_context(|| path.display().to_string())
}

/// Every sample plugin spec under `samples/plugins/`, with its path.
pub fn sample_plugins() -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let dir = sample_plugins_dir();
    std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .map(|entry| {
            let path = entry?.path();
            let yaml = std::fs::read(&path).with_context(|| path.display().to_string())?;
            Ok((path, yaml))
        })
        .collect()
}

/// A fresh random key set secret value with the given key ids, the first one active.
pub fn key_set_json(kids: &[&str]) -> anyhow::Result<(Value, Vec<String>)> {
    let mut set = serde_json::Map::new();
    let mut keys = Vec::new();
    for kid in kids {
        let key = format!(
            "{}{}",
            random_id().context("random")?,
            random_id().context("random")?
        );
        set.insert(kid.to_string(), json!(key));
        keys.push(key);
    }
    set.insert(
        "active".into(),
        json!(kids.first().copied().unwrap_or("k1")),
    );
    Ok((Value::Object(set), keys))
}

/// The issuer and audience every bed's tokens carry.
pub fn audience() -> Audience {
    Audience {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
    }
}

/// A one-day grant without a scope: a person's token, not a machine's.
pub fn person_grant(sub: &str, org: &str, perms: &[&str]) -> Grant {
    Grant {
        sub: sub.into(),
        org: org.into(),
        perms: perms.iter().map(|p| p.to_string()).collect(),
        scope: None,
        lifetime_days: 1,
    }
}

impl ApiBed {
    pub async fn new(label: &str) -> anyhow::Result<Self> {
        Self::configured(label, &[], |_| {}).await
    }

    /// A bed where `org` published every sample plugin, with that org's admin token.
    pub async fn with_sample_plugins(label: &str, org: &str) -> anyhow::Result<(Self, String)> {
        let api = Self::new(label).await?;
        let admin = api.token(org, &["*"]).await?;
        for (path, yaml) in sample_plugins()? {
            let reply = api.publish_yaml(&admin, yaml).await?;
            anyhow::ensure!(
                reply.status == StatusCode::CREATED,
                "{}: {:?}",
                path.display(),
                reply.body
            );
        }
        Ok((api, admin))
    }

    /// A bed whose AWS clients run `interceptors` and whose configuration `adjust` changes.
    pub async fn configured(
        label: &str,
        interceptors: &[SharedInterceptor],
        adjust: impl FnOnce(&mut ApiConfig),
    ) -> anyhow::Result<Self> {
        let bed = TestBed::with_interceptors(label, interceptors, SourceBus::Dedicated).await?;
        let key_set_secret = format!("{}/api-keys", bed.prefix);
        let secrets = Secrets::new(bed.clients.secretsmanager.clone());
        let (keys, _) = key_set_json(&["k1"])?;
        secrets.write(&key_set_secret, &keys.to_string()).await?;
        let mut config = ApiConfig {
            catalog_table: bed.stack.catalog_table.clone(),
            executions_table: bed.stack.executions_table.clone(),
            tokens: TokenConfig {
                key_set_secret_id: key_set_secret.clone(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                // Every request re-reads the key set, so rotation tests see changes at once.
                key_set_ttl: Duration::ZERO,
                key_set_grace: Duration::from_secs(900),
                // Revocations apply to the very next request.
                revocation_cache_ttl: Duration::ZERO,
            },
            max_body_bytes: MAX_BODY_BYTES,
            max_yaml_body_bytes: MAX_YAML_BODY_BYTES,
            deploy_regions: RegionConfig::default(),
            // Each bed stores its orgs' platform tokens under its own prefix, so parallel tests
            // (and test binaries sharing one emulator) never overwrite each other's.
            platform_secret_prefix: bed.prefix.clone(),
            deploy: bed.stack.deploy.clone(),
            event_bus_name: bed.stack.event_bus_name.clone(),
            // Deployments read their stack at once: the emulator emits no stack events.
            deployment_refresh_after: Duration::ZERO,
            retention_days: 90,
            notify_queue_url: bed.stack.notify_queue_url.clone(),
            webhook_allowed_hosts: Vec::new(),
        };
        adjust(&mut config);
        let state = AppState::new(&bed.clients, config);
        let router = router(state.clone());
        Ok(ApiBed {
            state,
            bed,
            router,
            key_set_secret,
            secrets,
        })
    }

    /// Sends the API's CodePipeline run requests to `standin` (the emulator implements none of
    /// them); only the endpoint differs from production.
    pub fn steer_runs_to(&mut self, standin: &CodePipelineStandIn) {
        self.state.control = PipelineControl::new(standin.client(&self.bed.sdk_config));
        self.router = router(self.state.clone());
    }

    /// Where this bed stores `org`'s platform token.
    pub fn platform_secret(&self, org: &str) -> String {
        format!(
            "{}/{org}/platform",
            self.state.config.platform_secret_prefix
        )
    }

    /// Where this bed stores the signing secret of `org`'s webhook subscription `id`.
    pub fn webhook_secret(&self, org: &str, id: &str) -> String {
        format!(
            "{}/{org}/webhooks/{id}",
            self.state.config.platform_secret_prefix
        )
    }

    pub async fn key_set(&self) -> anyhow::Result<KeySet> {
        Ok(KeySet::parse(
            &self.secrets.read(&self.key_set_secret).await?,
        )?)
    }

    /// Signs `grant` with the active key, as `api mint-token` does.
    pub async fn sign(&self, grant: Grant) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        Ok(mint(&self.key_set().await?, &audience(), grant, now)?.token)
    }

    /// A valid one-day token for the person `sub` of `org` holding `perms`.
    pub async fn token_for(&self, sub: &str, org: &str, perms: &[&str]) -> anyhow::Result<String> {
        self.sign(person_grant(sub, org, perms)).await
    }

    /// A valid one-day token for `org` holding `perms`; every such token has the same subject.
    pub async fn token(&self, org: &str, perms: &[&str]) -> anyhow::Result<String> {
        self.token_for(&format!("user@{org}"), org, perms).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send_json(Method::POST, path, token, body).await
    }

    pub async fn publish_yaml(&self, token: &str, yaml: Vec<u8>) -> anyhow::Result<Reply> {
        let body = ("application/yaml", yaml);
        self.send(Method::POST, "/api/plugins", Some(token), Some(body))
            .await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let body = ("application/json", body.to_string().into_bytes());
        self.send(method, path, Some(token), Some(body)).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<Reply> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some((content_type, bytes)) => request
                .header("content-type", content_type)
                .body(Body::from(bytes))?,
            None => request.body(Body::empty())?,
        };
        self.request(request).await
    }

    /// Sends a request built by the test (for headers `send` does not set).
    pub async fn request(&self, request: Request<Body>) -> anyhow::Result<Reply> {
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{status}: {}", String::from_utf8_lossy(&bytes)))?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
