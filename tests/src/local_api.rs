//! The `api` binary run as a local server against the emulator (what `make dev` starts), and a
//! minimal HTTP client for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::api::key_set_json;
use crate::emulator::TestBed;
use crate::resources::LocalStack;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pb_aws::secrets::Secrets;
use serde_json::Value;

pub struct LocalApi {
    child: Child,
    key_set_secret: String,
    port: u16,
}

/// The `api` binary of the running profile.
pub fn api_binary() -> anyhow::Result<PathBuf> {
    crate::workspace_binary("api")
}

/// What the local API runs with unless the caller's environment says otherwise. Production's SDK
/// timeouts are sized for Lambda against AWS; the emulator on a busy two-core machine answers
/// slower, and a 503 there says nothing about the API. Warnings only: a fuzz run sends tens of
/// thousands of requests. The emulator emits no stack status events, so a deployment is read from
/// its stack on every read rather than after a minute of silence.
const LOCAL_DEFAULTS: [(&str, &str); 4] = [
    ("SDK_OPERATION_TIMEOUT_MS", "30000"),
    ("SDK_ATTEMPT_TIMEOUT_MS", "15000"),
    ("RUST_LOG", "warn"),
    ("DEPLOYMENT_REFRESH_SECONDS", "0"),
];

impl LocalApi {
    /// Starts `api serve` on `port` and waits until `/health` answers.
    pub async fn start(
        stack: &LocalStack,
        key_set_secret: &str,
        port: u16,
    ) -> anyhow::Result<Self> {
        Self::spawn(stack, key_set_secret, port, &[]).await
    }

    /// As [`LocalApi::start`], with the API's CodePipeline calls (runs: start, stop, retry,
    /// approve) sent to `endpoint` — the SDK's service-specific endpoint variable — since the
    /// emulator has none of them.
    pub async fn start_with_codepipeline(
        stack: &LocalStack,
        key_set_secret: &str,
        port: u16,
        endpoint: &str,
    ) -> anyhow::Result<Self> {
        Self::spawn(
            stack,
            key_set_secret,
            port,
            &[("AWS_ENDPOINT_URL_CODEPIPELINE", endpoint)],
        )
        .await
    }

    async fn spawn(
        stack: &LocalStack,
        key_set_secret: &str,
        port: u16,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let binary = api_binary()?;
        let child = Command::new(&binary)
            .arg("serve")
            .env("CATALOG_TABLE", &stack.catalog_table)
            .env("EXECUTIONS_TABLE", &stack.executions_table)
            .env("EVENT_BUS_NAME", &stack.event_bus_name)
            .env("NOTIFY_QUEUE_URL", &stack.notify_queue_url)
            .env("PIPELINE_STACK_ROLE_ARN", &stack.deploy.stack_role_arn)
            .env("PIPELINE_ROLE_BOUNDARY_ARN", &stack.deploy.boundary_arn)
            .env("PIPELINE_TEMPLATE_BUCKET", &stack.deploy.template_bucket)
            .env("KEY_SET_SECRET_ID", key_set_secret)
            .env("PORT", port.to_string())
            .envs(
                LOCAL_DEFAULTS
                    .iter()
                    .filter(|(name, _)| std::env::var_os(name).is_none())
                    .copied(),
            )
            .envs(extra.iter().copied())
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut api = LocalApi {
            child,
            key_set_secret: key_set_secret.to_string(),
            port,
        };
        api.wait_until_healthy().await?;
        Ok(api)
    }

    /// A key set of one fresh key written to the bed's own secret, and `api serve` with it on a
    /// free port; the key set is returned for signing tokens the way the API checks them.
    pub async fn start_with_fresh_keys(bed: &TestBed) -> anyhow::Result<(Self, Value)> {
        let secret = format!("{}/api-signing-keys", bed.prefix);
        let (keys, _) = key_set_json(&["k1"])?;
        Secrets::new(bed.clients.secretsmanager.clone())
            .write(&secret, &keys.to_string())
            .await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Ok((Self::start(&bed.stack, &secret, port).await?, keys))
    }

    pub fn key_set_secret(&self) -> &str {
        &self.key_set_secret
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the api exited during start ({status}); is port {} free?",
                    self.port
                );
            }
            if let Ok((200, _)) = self.request("GET", "/health", None, None).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the api did not answer /health on port {}", self.port)
    }

    /// `api mint-token --org ORG --perms PERMS`, as an operator would run it.
    pub async fn mint_token(&self, org: &str, perms: &str) -> anyhow::Result<String> {
        let output = run_api(
            &["mint-token", "--org", org, "--perms", perms],
            &self.key_set_secret,
        )
        .await?;
        if !output.status.success() {
            bail!(
                "api mint-token failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?.trim().to_string())
    }

    /// Publishes every `*.yaml` plugin spec in `folder` through `POST /api/plugins`.
    pub async fn publish_samples(&self, token: &str, folder: &Path) -> anyhow::Result<usize> {
        self.post_files(token, folder, "yaml", "/api/plugins", "application/yaml")
            .await
    }

    /// Creates every `*.json` rule in `folder` through `POST /api/compliance/rules`.
    pub async fn create_rules(&self, token: &str, folder: &Path) -> anyhow::Result<usize> {
        self.post_files(
            token,
            folder,
            "json",
            "/api/compliance/rules",
            "application/json",
        )
        .await
    }

    /// POSTs every file with `extension` in `folder` to `route`; an existing item (409) is fine.
    async fn post_files(
        &self,
        token: &str,
        folder: &Path,
        extension: &str,
        route: &str,
        content_type: &str,
    ) -> anyhow::Result<usize> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == extension))
            .collect();
        paths.sort();
        for path in &paths {
            let body = std::fs::read(path)?;
            let (status, answer) = self
                .request("POST", route, Some(token), Some((content_type, body)))
                .await?;
            if status != 201 && status != 409 {
                bail!("posting {} answered {status}: {answer}", path.display());
            }
        }
        Ok(paths.len())
    }

    /// Creates the pipeline defined in `path` through `POST /api/pipelines`; returns its id.
    pub async fn create_pipeline(&self, token: &str, path: &Path) -> anyhow::Result<String> {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (status, answer) = self
            .request(
                "POST",
                "/api/pipelines",
                Some(token),
                Some(("application/json", body)),
            )
            .await?;
        if status != 201 {
            bail!("creating {} answered {status}: {answer}", path.display());
        }
        let created: serde_json::Value = serde_json::from_str(&answer)?;
        created["id"]
            .as_str()
            .map(str::to_string)
            .context("the created pipeline has no id")
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<(u16, String)> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url()));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some((content_type, bytes)) => request
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(bytes)))?,
            None => request.body(Full::new(Bytes::new()))?,
        };
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// Runs the `api` binary once with `args` and the key set secret id in its environment.
pub async fn run_api(args: &[&str], key_set_secret: &str) -> anyhow::Result<std::process::Output> {
    let mut command = Command::new(api_binary()?);
    command
        .args(args)
        .env("KEY_SET_SECRET_ID", key_set_secret)
        .env_remove("AWS_LAMBDA_RUNTIME_API");
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
