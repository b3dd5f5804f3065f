//! A local stand-in for the Lambda Runtime API, just enough to time a function's init: from the
//! process start to its first `GET /2018-06-01/runtime/invocation/next`, which the runtime sends
//! once `main` has finished initialising and starts polling for events.
//!
//! The stub never hands out an invocation: it records the instant of the first `next` request and
//! holds that connection open, so the function stays idle until it is killed. Any other request
//! (an init error report, say) is answered `202 Accepted` with no body.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The request the Lambda runtime sends when it is ready for its first event.
pub const NEXT_INVOCATION_PATH: &str = "/2018-06-01/runtime/invocation/next";

/// Longest request line or header line the stub reads; the runtime's are far shorter.
const MAX_LINE_BYTES: usize = 8 * 1024;
/// Output of a measured process kept for the error message when it fails.
const OUTPUT_TAIL_BYTES: usize = 4 * 1024;
/// How often the measurement checks whether the process died before polling.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// A Runtime API on a free loopback port; stops serving when dropped.
pub struct RuntimeStub {
    address: SocketAddr,
    first_next: watch::Receiver<Option<Instant>>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeStub {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the Runtime API stub to a loopback port")?;
        let address = listener
            .local_addr()
            .context("reading the Runtime API stub's address")?;
        let (sender, first_next) = watch::channel(None);
        let server = tokio::spawn(serve(listener, Arc::new(sender)));
        Ok(RuntimeStub {
            address,
            first_next,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// When the first `GET …/invocation/next` arrived, as soon as it has. Cancel-safe.
    pub async fn first_next(&mut self) -> anyhow::Result<Instant> {
        let seen = self
            .first_next
            .wait_for(Option::is_some)
            .await
            .context("the Runtime API stub stopped")?;
        (*seen).context("the Runtime API stub stopped")
    }
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, first_next: Arc<watch::Sender<Option<Instant>>>) {
    // Dropping the set (when the stub is dropped and this task aborted) closes every connection.
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(stream, first_next.clone()));
    }
}

async fn connection(stream: TcpStream, first_next: Arc<watch::Sender<Option<Instant>>>) {
    let mut stream = BufReader::new(stream);
    while let Some((method, path, received)) = read_request(&mut stream).await {
        if method == "GET" && path == NEXT_INVOCATION_PATH {
            first_next.send_if_modified(|first| {
                let unset = first.is_none();
                if unset {
                    *first = Some(received);
                }
                unset
            });
            hold(&mut stream).await;
            return;
        }
        let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
        if stream.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Leaves a `next` request unanswered until the client goes away.
async fn hold(stream: &mut BufReader<TcpStream>) {
    let mut buffer = [0u8; 1024];
    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
}

/// Reads one HTTP/1.1 request (body skipped); the instant is when its request line arrived.
/// `None` when the client closed the connection or sent something that is not HTTP/1.1.
async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<(String, String, Instant)> {
    let request_line = read_line(stream).await?;
    let received = Instant::now();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut content_length = 0u64;
    loop {
        let line = read_line(stream).await?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
    let skipped = tokio::io::copy(&mut stream.take(content_length), &mut tokio::io::sink())
        .await
        .ok()?;
    (skipped == content_length).then_some((method, path, received))
}

/// One line without its line ending; `None` at end of stream, on error or on an overlong line.
async fn read_line(stream: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    let read = (&mut *stream)
        .take(MAX_LINE_BYTES as u64)
        .read_line(&mut line)
        .await
        .ok()?;
    if read == 0 || !line.ends_with('\n') {
        return None;
    }
    Some(line.trim_end_matches(['\r', '\n']).to_string())
}

/// What [`time_init`] starts: a Lambda function binary and its own environment.
#[derive(Debug, Clone)]
pub struct LambdaBinary<'a> {
    pub path: &'a Path,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: &'a str,
    /// The function's own variables (table names, secret ids, …), added to the inherited ones.
    pub env: &'a [(String, String)],
}

/// Starts `binary` as a Lambda function against a fresh [`RuntimeStub`] and returns the time from
/// spawning the process to its first `next` request; the process is killed afterwards. The rest of
/// this process's environment (the emulator endpoint and credentials) is inherited.
pub async fn time_init(binary: &LambdaBinary<'_>, timeout: Duration) -> anyhow::Result<Duration> {
    let mut stub = RuntimeStub::start().await?;
    let mut command = Command::new(binary.path);
    command
        .env("AWS_LAMBDA_RUNTIME_API", stub.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", binary.function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", binary.function_name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench")
        .env(
            "AWS_REGION",
            std::env::var("AWS_REGION").unwrap_or_else(|_| crate::emulator::REGION.to_string()),
        )
        .envs(binary.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.path.display()))?;
    let mut process = Running::new(child);
    let deadline = started + timeout;
    loop {
        tokio::select! {
            first_next = stub.first_next() => {
                let first_next = first_next?;
                process.kill();
                return Ok(first_next.saturating_duration_since(started));
            }
            () = tokio::time::sleep(EXIT_POLL) => {}
        }
        if let Some(status) = process.exited()? {
            bail!(
                "{} exited ({status}) before asking for an event; its output ends with:\n{}",
                binary.path.display(),
                process.output_tail()
            );
        }
        if Instant::now() >= deadline {
            process.kill();
            bail!(
                "{} did not ask for an event within {timeout:?}; its output ends with:\n{}",
                binary.path.display(),
                process.output_tail()
            );
        }
    }
}

/// A measured process: killed when dropped, its stdout and stderr drained into one bounded tail.
struct Running {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    drains: Vec<JoinHandle<()>>,
}

impl Running {
    fn new(mut child: Child) -> Self {
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut drains = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            drains.push(drain(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            drains.push(drain(stderr, output.clone()));
        }
        Running {
            child,
            output,
            drains,
        }
    }

    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        self.child
            .try_wait()
            .context("checking on the measured process")
    }

    fn kill(&mut self) {
        // Fails only when the process has already exited; waiting reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the process wrote, last bytes only; call after it has exited or been killed.
    fn output_tail(&mut self) -> String {
        for drain in self.drains.drain(..) {
            let _ = drain.join();
        }
        let output = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        String::from_utf8_lossy(&output).into_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `source` to its end on a thread, keeping the last [`OUTPUT_TAIL_BYTES`] in `output`.
fn drain(mut source: impl Read + Send + 'static, output: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = source.read(&mut buffer) {
            if read == 0 {
                break;
            }
            if let Ok(mut output) = output.lock() {
                output.extend_from_slice(&buffer[..read]);
                let excess = output.len().saturating_sub(OUTPUT_TAIL_BYTES);
                output.drain(..excess);
            }
        }
    })
}
