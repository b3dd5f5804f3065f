//! Function configuration from the environment (set by template.yaml, or by `make dev`).

use std::time::Duration;

use thiserror::Error;

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
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    value: v,
                    expected: "a whole number",
                }),
            }
        };
        let quarantine = match lookup("QUARANTINE_UNREGISTERED").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "QUARANTINE_UNREGISTERED",
                    value: other.to_string(),
                    expected: "true or false",
                })
            }
        };
        Ok(IngestConfig {
            catalog_table: required("CATALOG_TABLE")?,
            executions_table: required("EXECUTIONS_TABLE")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            dead_letter_queue_url: required("DLQ_URL")?,
            tag_cache_ttl: Duration::from_secs(number("TAG_CACHE_TTL_SECONDS", 300)?),
            negative_cache_ttl: Duration::from_secs(number("NEGATIVE_CACHE_TTL_SECONDS", 60)?),
            quarantine_unregistered: quarantine,
            retention_days: number("RAW_RETENTION_DAYS", 90)? as i64,
        })
    }
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
}
