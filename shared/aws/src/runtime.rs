//! Start-up shared by the binaries: the log subscriber (JSON in Lambda, human text on a command
//! line), the function's name and the clock its metrics are stamped with.
//!
//! Log lines go to stderr, so stdout carries only machine output: EMF metric documents in Lambda
//! (see [`crate::emf`]), results on a command line.

use std::fmt::Display;
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// Set by Lambda from the function's ApplicationLogLevel when its log format is JSON.
pub const LAMBDA_LOG_LEVEL_VAR: &str = "AWS_LAMBDA_LOG_LEVEL";
/// What the filter is when neither Lambda's level nor `RUST_LOG` says.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Lambda's application log level as a tracing level. tracing's most severe level is ERROR, so
/// FATAL keeps the errors; an unknown word is `None`.
pub fn lambda_log_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" | "FATAL" => Some(Level::ERROR),
        _ => None,
    }
}

/// The filter directives: Lambda's level when it is set (the operator set it in the function's
/// logging configuration, which outranks the template's `RUST_LOG`), else `RUST_LOG`, else
/// `default`.
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>, default: &str) -> String {
    if let Some(level) = lambda_level.and_then(lambda_log_level) {
        return level.as_str().to_ascii_lowercase();
    }
    match rust_log.map(str::trim) {
        Some(directives) if !directives.is_empty() => directives.to_string(),
        _ => default.to_string(),
    }
}

/// The filter from this process's environment; invalid directives give `default` and the reason.
fn env_filter(default: &str) -> (EnvFilter, Option<String>) {
    let directives = log_filter(
        std::env::var(LAMBDA_LOG_LEVEL_VAR).ok().as_deref(),
        std::env::var(EnvFilter::DEFAULT_ENV).ok().as_deref(),
        default,
    );
    match EnvFilter::try_new(&directives) {
        Ok(filter) => (filter, None),
        Err(error) => (
            EnvFilter::new(default),
            Some(format!("log filter {directives:?} ignored: {error}")),
        ),
    }
}

/// JSON log lines on stderr for a Lambda function. Each line carries `level` and an RFC 3339
/// `timestamp`, which Lambda's JSON log format needs to filter by level (a line without a valid
/// timestamp counts as INFO).
pub fn init_lambda_logging() {
    let (filter, rejected) = env_filter(DEFAULT_LOG_FILTER);
    lambda_subscriber(filter, std::io::stderr).init();
    if let Some(reason) = rejected {
        tracing::warn!("{reason}");
    }
}

fn lambda_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// Human-readable progress on stderr for a command line, coloured on a terminal; `default` is
/// the filter when the environment sets none.
pub fn init_cli_logging(default: &str) {
    let (filter, rejected) = env_filter(default);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    if let Some(reason) = rejected {
        tracing::warn!("{reason}");
    }
}

/// Whether the process runs inside Lambda (the Runtime API's address is set).
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The deployed function's name, the dimension of its metrics; `local` outside Lambda.
pub fn function_name(local: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| local.to_string())
}

/// Milliseconds since the epoch, the timestamp of an EMF document.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Fills a command-line option's slot; `repeated` when the option was already given.
pub fn set_once<E>(slot: &mut Option<String>, value: String, repeated: E) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(repeated),
        None => Ok(()),
    }
}

/// Logs the error of a failed start-up step before it ends the process.
pub trait LogStartupError {
    fn log_startup_error(self, what: &str) -> Self;
}

impl<T, E: Display> LogStartupError for Result<T, E> {
    fn log_startup_error(self, what: &str) -> Self {
        if let Err(error) = &self {
            tracing::error!(error = %error, "{what}");
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lambda_level_maps_and_fatal_keeps_the_errors() {
        let cases = [
            ("TRACE", Level::TRACE),
            ("DEBUG", Level::DEBUG),
            ("INFO", Level::INFO),
            ("WARN", Level::WARN),
            ("ERROR", Level::ERROR),
            ("FATAL", Level::ERROR),
            ("debug", Level::DEBUG),
            (" warn ", Level::WARN),
        ];
        for (value, level) in cases {
            assert_eq!(lambda_log_level(value), Some(level), "{value:?}");
        }
        assert_eq!(lambda_log_level("WARNING"), None);
        assert_eq!(lambda_log_level(""), None);
    }

    #[test]
    fn lambdas_level_outranks_rust_log_which_outranks_the_default() {
        assert_eq!(
            log_filter(Some("FATAL"), Some("pb_ingest=debug"), "info"),
            "error"
        );
        assert_eq!(log_filter(Some("DEBUG"), None, "info"), "debug");
        assert_eq!(
            log_filter(None, Some("pb_ingest=debug"), "info"),
            "pb_ingest=debug"
        );
        assert_eq!(
            log_filter(Some("LOUD"), Some("warn"), "info"),
            "warn",
            "a level Lambda does not define falls back to RUST_LOG"
        );
        assert_eq!(log_filter(None, Some("  "), "info"), "info");
        assert_eq!(
            log_filter(None, None, "warn,pb_audit=info"),
            "warn,pb_audit=info"
        );
    }

    #[test]
    fn every_mapped_level_is_a_filter_the_subscriber_accepts() {
        for value in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] {
            let directives = log_filter(Some(value), None, DEFAULT_LOG_FILTER);
            assert!(EnvFilter::try_new(&directives).is_ok(), "{directives}");
        }
    }

    #[test]
    fn an_option_is_set_once() {
        let mut slot = None;
        assert_eq!(set_once(&mut slot, "a".into(), "twice"), Ok(()));
        assert_eq!(set_once(&mut slot, "b".into(), "twice"), Err("twice"));
    }

    /// Every line a subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    fn logged_in_lambda(filter: &str, log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = lambda_subscriber(EnvFilter::new(filter), move || writer.clone());
        tracing::subscriber::with_default(subscriber, log);
        captured.lines()
    }

    #[test]
    fn a_lambda_log_line_carries_what_lambdas_level_filter_reads() {
        let lines = logged_in_lambda("warn", || {
            tracing::info!("below the level");
            tracing::warn!(records = 3, "kept");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["fields"]["records"], 3);
        let timestamp = lines[0]["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }

    #[test]
    fn a_failed_step_is_logged_and_its_result_passed_on() {
        let failed: Result<(), String> = Err("CATALOG_TABLE is not set".into());
        let mut passed = None;
        let lines = logged_in_lambda("info", || {
            passed = Some(failed.clone().log_startup_error("invalid configuration"));
            let _ = Ok::<u8, String>(3).log_startup_error("not logged");
        });
        assert_eq!(passed, Some(failed));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["fields"]["message"], "invalid configuration");
        assert_eq!(lines[0]["fields"]["error"], "CATALOG_TABLE is not set");
    }
}
