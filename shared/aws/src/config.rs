//! Function configuration from the environment (set by template.yaml, or by `make dev`).

use std::time::Duration;

use crate::deployer::DeployTargets;

use thiserror::Error;

use pb_domain::region::RegionPolicy;

use crate::clients::SdkTimeouts;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Settings of the ingest function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    pub catalog_table: String,
    pub executions_table: String,
    pub event_bus_name: String,
    pub dead_letter_queue_url: String,
    pub tag_cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    pub quarantine_unregistered: bool,
    pub retention_days: i64,
}

impl IngestConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(IngestConfig {
            catalog_table: env.required("CATALOG_TABLE")?,
            executions_table: env.required("EXECUTIONS_TABLE")?,
            event_bus_name: env.required("EVENT_BUS_NAME")?,
            dead_letter_queue_url: env.required("DLQ_URL")?,
            tag_cache_ttl: env.seconds("TAG_CACHE_TTL_SECONDS", 300)?,
            negative_cache_ttl: env.seconds("NEGATIVE_CACHE_TTL_SECONDS", 60)?,
            quarantine_unregistered: env.flag("QUARANTINE_UNREGISTERED", false)?,
            retention_days: env.number("RAW_RETENTION_DAYS", 90)? as i64,
        })
    }
}

/// Settings of the notify function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub catalog_table: String,
    /// Its own queue: a delivery that failed for now is sent back here with a delay.
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// How long a warm container keeps a webhook's secret.
    pub secret_cache_ttl: Duration,
    /// When not empty, the only hosts webhooks may call, checked again at every delivery (a
    /// narrowed list also stops subscriptions written before it).
    pub webhook_allowed_hosts: Vec<String>,
}

impl NotifyConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(NotifyConfig {
            catalog_table: env.required("CATALOG_TABLE")?,
            queue_url: env.required("NOTIFY_QUEUE_URL")?,
            dead_letter_queue_url: env.required("DLQ_URL")?,
            secret_cache_ttl: env.seconds("SECRET_CACHE_TTL_SECONDS", 300)?,
            webhook_allowed_hosts: env.hosts("WEBHOOK_ALLOWED_HOSTS"),
        })
    }
}

/// Settings of the API function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub catalog_table: String,
    /// Reports read the daily rollups from here.
    pub executions_table: String,
    pub tokens: TokenConfig,
    pub max_body_bytes: usize,
    /// YAML bodies have their own, smaller limit (see pb_domain::yaml).
    pub max_yaml_body_bytes: usize,
    /// Regions a registry entry may name.
    pub deploy_regions: RegionConfig,
    /// First segment of the stored platform token secrets' names (`{prefix}/{org}/platform`):
    /// the stack name, so two stacks in one account never write each other's secrets.
    pub platform_secret_prefix: String,
    /// Where pipeline stacks are deployed with, and from.
    pub deploy: DeployTargets,
    /// The platform bus (`Deployment Completed`).
    pub event_bus_name: String,
    /// A deployment under way that has heard no stack event for this long reads its stack's
    /// status itself when it is read.
    pub deployment_refresh_after: Duration,
    /// How long what the API records beside raw execution items is kept (who started a run):
    /// as long as the items themselves.
    pub retention_days: i64,
    /// The notify function's queue: test notifications are sent through it.
    pub notify_queue_url: String,
    /// When not empty, the only hosts webhooks may call.
    pub webhook_allowed_hosts: Vec<String>,
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(ApiConfig {
            catalog_table: env.required("CATALOG_TABLE")?,
            executions_table: env.required("EXECUTIONS_TABLE")?,
            tokens: TokenConfig::from_lookup(&lookup)?,
            max_body_bytes: env.number("MAX_BODY_BYTES", 256 * 1024)? as usize,
            max_yaml_body_bytes: env.number("MAX_YAML_BODY_BYTES", 64 * 1024)? as usize,
            deploy_regions: RegionConfig::from_lookup(&lookup)?,
            platform_secret_prefix: env.text("PLATFORM_SECRET_PREFIX", "pipeline-builder"),
            deploy: DeployTargets {
                stack_role_arn: env.required("PIPELINE_STACK_ROLE_ARN")?,
                boundary_arn: env.required("PIPELINE_ROLE_BOUNDARY_ARN")?,
                template_bucket: env.required("PIPELINE_TEMPLATE_BUCKET")?,
            },
            event_bus_name: env.required("EVENT_BUS_NAME")?,
            deployment_refresh_after: env.seconds("DEPLOYMENT_REFRESH_SECONDS", 60)?,
            retention_days: env.number("RAW_RETENTION_DAYS", 90)? as i64,
            notify_queue_url: env.required("NOTIFY_QUEUE_URL")?,
            webhook_allowed_hosts: env.hosts("WEBHOOK_ALLOWED_HOSTS"),
        })
    }
}

/// Where the JWT signing keys are and what tokens must say; also all `api mint-token` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// Secrets Manager id (name or ARN) of the signing key set.
    pub key_set_secret_id: String,
    pub issuer: String,
    pub audience: String,
    /// How long a warm container trusts its copy of the key set.
    pub key_set_ttl: Duration,
    /// How long past its TTL the cached key set still verifies while Secrets Manager fails.
    pub key_set_grace: Duration,
    /// How long a warm container trusts an answer to "was this token revoked?".
    pub revocation_cache_ttl: Duration,
}

impl TokenConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(TokenConfig {
            key_set_secret_id: env.required("KEY_SET_SECRET_ID")?,
            issuer: env.text("TOKEN_ISSUER", "pipeline-builder"),
            audience: env.text("TOKEN_AUDIENCE", "pipeline-builder-api"),
            key_set_ttl: env.seconds("KEY_SET_TTL_SECONDS", 300)?,
            key_set_grace: env.seconds("KEY_SET_GRACE_SECONDS", 900)?,
            revocation_cache_ttl: env.seconds("REVOCATION_CACHE_SECONDS", 30)?,
        })
    }
}

/// Settings of the plugin-lookup function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupConfig {
    pub catalog_table: String,
    /// How long a warm container reuses the public versions it read for a name; zero reads them
    /// every time.
    pub public_cache_ttl: Duration,
}

impl LookupConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(LookupConfig {
            catalog_table: env.required("CATALOG_TABLE")?,
            public_cache_ttl: env.seconds("PUBLIC_PLUGIN_CACHE_TTL_SECONDS", 30)?,
        })
    }
}

/// Settings of the audit function and CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub catalog_table: String,
    /// Only the Lambda publishes; the CLI runs without it.
    pub event_bus_name: Option<String>,
    /// Regions scanned besides those the registry names (`AUDIT_REGIONS`, comma-separated),
    /// where stacks may exist that no entry points to.
    pub regions: Vec<String>,
    /// Regions the audit may scan; an entry naming another is its org's failed part.
    pub deploy_regions: RegionConfig,
}

impl AuditConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(AuditConfig {
            catalog_table: env.required("CATALOG_TABLE")?,
            event_bus_name: env.get("EVENT_BUS_NAME"),
            regions: env.regions("AUDIT_REGIONS")?,
            deploy_regions: RegionConfig::from_lookup(&lookup)?,
        })
    }

    pub fn required_event_bus(&self) -> Result<&str, ConfigError> {
        self.event_bus_name
            .as_deref()
            .ok_or(ConfigError::Missing("EVENT_BUS_NAME"))
    }
}

/// Where the platform may deploy: the partition of the region the function runs in
/// (`AWS_REGION`), or the `ALLOWED_REGIONS` allowlist (comma-separated) when it is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionConfig {
    pub home_region: Option<String>,
    pub allowed: Vec<String>,
}

impl RegionConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(RegionConfig {
            home_region: env.get("AWS_REGION"),
            allowed: env.regions("ALLOWED_REGIONS")?,
        })
    }

    pub fn policy(&self) -> RegionPolicy {
        RegionPolicy::new(self.home_region.as_deref(), &self.allowed)
    }
}

/// The SDK timeouts of a function: its `defaults`, each overridable in milliseconds by
/// `SDK_OPERATION_TIMEOUT_MS`, `SDK_ATTEMPT_TIMEOUT_MS` and `SDK_CONNECT_TIMEOUT_MS`.
pub fn sdk_timeouts(
    lookup: impl Fn(&str) -> Option<String>,
    defaults: SdkTimeouts,
) -> Result<SdkTimeouts, ConfigError> {
    let env = Env(&lookup);
    let millis = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        match env.number(name, default.as_millis() as u64)? {
            0 => Err(ConfigError::Invalid {
                name,
                value: "0".into(),
                expected: "a positive number of milliseconds",
            }),
            ms => Ok(Duration::from_millis(ms)),
        }
    };
    Ok(SdkTimeouts {
        operation: millis("SDK_OPERATION_TIMEOUT_MS", defaults.operation)?,
        attempt: millis("SDK_ATTEMPT_TIMEOUT_MS", defaults.attempt)?,
        connect: millis("SDK_CONNECT_TIMEOUT_MS", defaults.connect)?,
    })
}

pub fn sdk_timeouts_from_env(defaults: SdkTimeouts) -> Result<SdkTimeouts, ConfigError> {
    sdk_timeouts(|name| std::env::var(name).ok(), defaults)
}

/// Typed reads of environment variables; an empty value counts as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| ConfigError::Invalid {
                name,
                value,
                expected: "a whole number",
            }),
        }
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.number(name, default).map(Duration::from_secs)
    }

    /// A comma-separated list of host names, lower-cased; empty when unset.
    fn hosts(&self, name: &'static str) -> Vec<String> {
        self.get(name)
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    }

    fn regions(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let regions: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        if regions.iter().all(|r| is_region_name(r)) {
            Ok(regions)
        } else {
            Err(ConfigError::Invalid {
                name,
                value,
                expected: "comma-separated region names such as us-east-1,eu-west-1",
            })
        }
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                name,
                value: other.to_string(),
                expected: "true or false",
            }),
        }
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: lowercase letters, digits and dashes.
pub fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_and_defaulted_settings() {
        let env = |name: &str| match name {
            "CATALOG_TABLE" => Some("c".to_string()),
            "EXECUTIONS_TABLE" => Some("e".to_string()),
            "EVENT_BUS_NAME" => Some("b".to_string()),
            "DLQ_URL" => Some("q".to_string()),
            "TAG_CACHE_TTL_SECONDS" => Some("30".to_string()),
            _ => None,
        };
        let config = IngestConfig::from_lookup(env).unwrap();
        assert_eq!(config.tag_cache_ttl, Duration::from_secs(30));
        assert_eq!(config.negative_cache_ttl, Duration::from_secs(60));
        assert!(!config.quarantine_unregistered);
        assert_eq!(config.retention_days, 90);
    }

    #[test]
    fn names_the_missing_or_invalid_variable() {
        assert_eq!(
            IngestConfig::from_lookup(|_| None),
            Err(ConfigError::Missing("CATALOG_TABLE"))
        );
        let bad = |name: &str| match name {
            "QUARANTINE_UNREGISTERED" => Some("yes".to_string()),
            n if n.ends_with("_SECONDS") || n.ends_with("_DAYS") => Some("1".to_string()),
            _ => Some("x".to_string()),
        };
        assert!(matches!(
            IngestConfig::from_lookup(bad),
            Err(ConfigError::Invalid {
                name: "QUARANTINE_UNREGISTERED",
                ..
            })
        ));
    }

    #[test]
    fn api_and_lookup_settings_default_what_they_can() {
        let env = |name: &str| match name {
            "CATALOG_TABLE" => Some("c".to_string()),
            "EXECUTIONS_TABLE" => Some("e".to_string()),
            "KEY_SET_SECRET_ID" => Some("keys".to_string()),
            "EVENT_BUS_NAME" => Some("bus".to_string()),
            "PIPELINE_STACK_ROLE_ARN" => Some("arn:aws:iam::123456789012:role/stacks".to_string()),
            "PIPELINE_ROLE_BOUNDARY_ARN" => Some("arn:aws:iam::123456789012:policy/b".to_string()),
            "PIPELINE_TEMPLATE_BUCKET" => Some("templates".to_string()),
            "NOTIFY_QUEUE_URL" => Some("https://sqs/notify".to_string()),
            _ => None,
        };
        let api = ApiConfig::from_lookup(env).unwrap();
        assert_eq!(api.retention_days, 90);
        assert!(api.webhook_allowed_hosts.is_empty());
        let listed = ApiConfig::from_lookup(|name| match name {
            "WEBHOOK_ALLOWED_HOSTS" => Some(" Hooks.Slack.com, ,example.org".to_string()),
            other => env(other),
        })
        .unwrap();
        assert_eq!(
            listed.webhook_allowed_hosts,
            ["hooks.slack.com", "example.org"]
        );
        assert_eq!(api.deployment_refresh_after, Duration::from_secs(60));
        assert_eq!(api.tokens.issuer, "pipeline-builder");
        assert_eq!(api.tokens.audience, "pipeline-builder-api");
        assert_eq!(api.tokens.key_set_ttl, Duration::from_secs(300));
        assert_eq!(api.tokens.key_set_grace, Duration::from_secs(900));
        assert_eq!(api.tokens.revocation_cache_ttl, Duration::from_secs(30));
        assert_eq!(api.max_body_bytes, 262_144);
        assert_eq!(api.max_yaml_body_bytes, 65_536);
        let lookup = LookupConfig::from_lookup(env).unwrap();
        assert_eq!(lookup.catalog_table, "c");
        assert_eq!(lookup.public_cache_ttl, Duration::from_secs(30));
        let uncached = LookupConfig::from_lookup(|name| match name {
            "PUBLIC_PLUGIN_CACHE_TTL_SECONDS" => Some("0".to_string()),
            other => env(other),
        })
        .unwrap();
        assert_eq!(uncached.public_cache_ttl, Duration::ZERO);
        assert_eq!(api.executions_table, "e");
        assert_eq!(
            ApiConfig::from_lookup(|n| (n == "CATALOG_TABLE").then(|| "c".to_string())),
            Err(ConfigError::Missing("EXECUTIONS_TABLE"))
        );
        assert_eq!(
            LookupConfig::from_lookup(|_| Some(String::new())),
            Err(ConfigError::Missing("CATALOG_TABLE"))
        );
    }

    #[test]
    fn notify_settings_name_both_queues_and_default_the_secret_cache() {
        let env = |name: &str| match name {
            "CATALOG_TABLE" => Some("c".to_string()),
            "NOTIFY_QUEUE_URL" => Some("q".to_string()),
            "DLQ_URL" => Some("d".to_string()),
            _ => None,
        };
        let config = NotifyConfig::from_lookup(env).unwrap();
        assert_eq!(config.secret_cache_ttl, Duration::from_secs(300));
        assert_eq!(config.queue_url, "q");
        assert_eq!(
            NotifyConfig::from_lookup(|n| (n == "CATALOG_TABLE").then(|| "c".to_string())),
            Err(ConfigError::Missing("NOTIFY_QUEUE_URL"))
        );
    }

    #[test]
    fn sdk_timeouts_default_per_function_and_refuse_zero() {
        let none = |_: &str| None;
        assert_eq!(sdk_timeouts(none, SdkTimeouts::API), Ok(SdkTimeouts::API));
        let env = |name: &str| (name == "SDK_ATTEMPT_TIMEOUT_MS").then(|| "250".to_string());
        let read = sdk_timeouts(env, SdkTimeouts::INGEST).unwrap();
        assert_eq!(read.attempt, Duration::from_millis(250));
        assert_eq!(read.operation, SdkTimeouts::INGEST.operation);
        let zero = |name: &str| (name == "SDK_CONNECT_TIMEOUT_MS").then(|| "0".to_string());
        assert!(matches!(
            sdk_timeouts(zero, SdkTimeouts::API),
            Err(ConfigError::Invalid {
                name: "SDK_CONNECT_TIMEOUT_MS",
                ..
            })
        ));
    }

    #[test]
    fn the_region_policy_follows_the_home_partition_or_the_allowlist() {
        let gov =
            RegionConfig::from_lookup(|n| (n == "AWS_REGION").then(|| "us-gov-west-1".into()))
                .unwrap();
        assert!(gov.policy().check("us-gov-east-1").is_ok());
        assert!(gov.policy().check("us-east-1").is_err());
        let listed = RegionConfig::from_lookup(|n| match n {
            "AWS_REGION" => Some("us-east-1".into()),
            "ALLOWED_REGIONS" => Some("us-east-1, sa-west-1".into()),
            _ => None,
        })
        .unwrap();
        assert!(listed.policy().check("sa-west-1").is_ok());
        assert!(listed.policy().check("eu-west-1").is_err());
        assert!(matches!(
            RegionConfig::from_lookup(|n| (n == "ALLOWED_REGIONS").then(|| "us-east-1;x".into())),
            Err(ConfigError::Invalid {
                name: "ALLOWED_REGIONS",
                ..
            })
        ));
    }
}
