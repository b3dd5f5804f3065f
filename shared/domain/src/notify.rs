//! Notifications: org-owned subscriptions that send what happened on the platform (a failed or
//! successful run, an approval waiting, a failed deployment, drift) to an SNS topic or a signed
//! HTTPS webhook. Checked here before anything is stored or sent; nothing here does I/O.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plugin::FieldError;

mod notices;
mod payload;

pub use notices::{
    delivery_id, notices_of, APPROVAL_WAITING, DEPLOYMENT_COMPLETED, DEPLOYMENT_SOURCE,
    EXECUTION_COMPLETED, INGEST_SOURCE, MAX_NOTICE_FINDINGS, MAX_SUMMARY_CHARS,
};
pub use payload::{json_payload, slack_payload, MAX_DETAIL_BYTES, MAX_SLACK_TEXT_CHARS};

pub const MAX_OUTCOMES: usize = 5;
pub const MAX_URL_CHARS: usize = 2048;
pub const MIN_SECRET_CHARS: usize = 32;
pub const MAX_SECRET_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 100;
/// Most subscriptions one org may hold: every event is matched against all of them.
pub const MAX_SUBSCRIPTIONS_PER_ORG: usize = 100;

/// What a subscription asks to hear about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    ExecutionFailed,
    ExecutionSucceeded,
    ApprovalWaiting,
    DeploymentFailed,
    DriftFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ExecutionFailed => "execution-failed",
            Outcome::ExecutionSucceeded => "execution-succeeded",
            Outcome::ApprovalWaiting => "approval-waiting",
            Outcome::DeploymentFailed => "deployment-failed",
            Outcome::DriftFound => "drift-found",
        }
    }
}

/// How a webhook's body is shaped.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The platform's own JSON document (see the README for its schema).
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
}

/// A channel as a caller asks for it. The webhook's secret is write-only: it is kept in Secrets
/// Manager and never returned or logged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelRequest {
    #[serde(rename_all = "camelCase")]
    Sns { topic_arn: String },
    #[serde(rename_all = "camelCase")]
    Webhook {
        url: String,
        secret: String,
        #[serde(default)]
        format: Format,
    },
}

/// A channel as stored: the webhook's secret lives in Secrets Manager under `secret_id`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Channel {
    #[serde(rename_all = "camelCase")]
    Sns { topic_arn: String },
    #[serde(rename_all = "camelCase")]
    Webhook {
        url: String,
        format: Format,
        #[serde(skip_serializing_if = "String::is_empty", default)]
        secret_id: String,
    },
}

/// A subscription as a caller writes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub name: String,
    /// Only this pipeline's events (at most one of `pipelineId` and `project`).
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// Only events of this project's pipelines.
    #[serde(default)]
    pub project: Option<String>,
    pub outcomes: Vec<Outcome>,
    pub channel: ChannelRequest,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub org: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub outcomes: BTreeSet<Outcome>,
    pub channel: Channel,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
}

impl Subscription {
    /// Whether `notice` is one this subscription asked for. `project` is the project of the
    /// notice's pipeline, when it has one.
    pub fn wants(&self, notice: &Notice, project: Option<&str>) -> bool {
        notice.org == self.org
            && self.outcomes.contains(&notice.outcome)
            && self
                .pipeline_id
                .as_deref()
                .is_none_or(|id| notice.pipeline_id.as_deref() == Some(id))
            && self.project.as_deref().is_none_or(|p| project == Some(p))
    }
}

/// Something that happened, for one org: what every channel delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The platform event it came from (the same event yields the same notice).
    pub event_id: String,
    pub org: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// RFC 3339.
    pub occurred_at: String,
    /// One line a person reads first.
    pub summary: String,
    /// The event's own detail, as published on the platform bus.
    pub detail: Value,
}

/// One notice to one subscription: the unit the notify queue carries and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Stable across retries and redeliveries: receivers dedupe on it.
    pub delivery_id: String,
    pub subscription_id: String,
    pub notice: Notice,
    /// 1 for the first try.
    pub attempt: u32,
    /// A sample sent by `POST /api/notifications/{id}/test`.
    #[serde(default)]
    pub test: bool,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// What the platform accepts as a channel's destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelPolicy {
    /// The platform's own account: SNS topics must be in it.
    pub account: String,
    /// When not empty, the only webhook hosts allowed (exact, lower case).
    pub webhook_hosts: Vec<String>,
}

/// Every problem of a subscription request at once, each with its JSON path.
pub fn check_subscription(
    request: &SubscriptionRequest,
    policy: &ChannelPolicy,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = request.name.trim();
    if name.is_empty()
        || request.name.chars().count() > MAX_NAME_CHARS
        || request.name.chars().any(char::is_control)
    {
        errors.push(error(
            "name",
            format!("1-{MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    if request.pipeline_id.is_some() && request.project.is_some() {
        errors.push(error(
            "project",
            "filter by a pipeline or by a project, not both",
        ));
    }
    for (field, value) in [
        ("pipelineId", &request.pipeline_id),
        ("project", &request.project),
    ] {
        if let Some(value) = value {
            let valid = (1..=128).contains(&value.len())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid {
                errors.push(error(
                    field,
                    "1-128 characters of letters, digits and '._-'",
                ));
            }
        }
    }
    let distinct: BTreeSet<_> = request.outcomes.iter().collect();
    if request.outcomes.is_empty() || distinct.len() != request.outcomes.len() {
        errors.push(error(
            "outcomes",
            format!("1 to {MAX_OUTCOMES} different outcomes"),
        ));
    }
    match &request.channel {
        ChannelRequest::Sns { topic_arn } => check_topic(topic_arn, policy, &mut errors),
        ChannelRequest::Webhook { url, secret, .. } => {
            if let Err(message) = check_webhook_url(url, &policy.webhook_hosts) {
                errors.push(error("channel.url", message));
            }
            let length = secret.chars().count();
            if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&length)
                || !secret.chars().all(|c| c.is_ascii_graphic())
            {
                errors.push(error(
                    "channel.secret",
                    format!(
                        "{MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} printable ASCII characters without spaces"
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_topic(arn: &str, policy: &ChannelPolicy, errors: &mut Vec<FieldError>) {
    let parts: Vec<&str> = arn.split(':').collect();
    let well_formed = arn.len() <= 256
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && (1..=256).contains(&parts[5].len())
        && parts[5]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !well_formed {
        errors.push(error(
            "channel.topicArn",
            "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        ));
    } else if parts[4] != policy.account {
        errors.push(error(
            "channel.topicArn",
            "the topic must be in the platform's own account",
        ));
    }
}

/// A webhook URL the platform may call: `https://host[:port]/path`, no user info, and a host
/// that is not an address the platform must never reach (see [`is_forbidden_address`]). Names
/// are checked again after DNS resolution, when sending.
pub fn check_webhook_url(url: &str, allowed_hosts: &[String]) -> Result<(), String> {
    if url.len() > MAX_URL_CHARS || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "at most {MAX_URL_CHARS} characters, no spaces or control characters"
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| "must be an https:// URL".to_string())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry user information".into());
    }
    let host = host_of(authority).ok_or_else(|| "has no valid host".to_string())?;
    if let Ok(address) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        if is_forbidden_address(address) {
            return Err("must not name a loopback, private, link-local or metadata address".into());
        }
    } else if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".internal") {
        return Err("must not name a local host".into());
    }
    if !is_allowed_host(url, allowed_hosts) {
        return Err(format!(
            "host {host} is not on the platform's webhook allowlist"
        ));
    }
    Ok(())
}

/// Whether `url`'s host is on `allowed_hosts`; every host is when the list is empty.
pub fn is_allowed_host(url: &str, allowed_hosts: &[String]) -> bool {
    if allowed_hosts.is_empty() {
        return true;
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    host_of(authority).is_some_and(|host| allowed_hosts.contains(&host))
}

/// The lower-cased host of an authority (`host`, `host:port`, `[v6]:port`); `None` when it is
/// empty or its port is not a number.
fn host_of(authority: &str) -> Option<String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        (format!("[{inside}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return None;
    }
    let valid = host
        .trim_matches(['[', ']'])
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    valid.then(|| host.to_ascii_lowercase())
}

/// Addresses a webhook may never reach: loopback, private and shared (CGNAT) ranges, link-local
/// (which holds the instance metadata service), unspecified, broadcast, multicast, and the IPv6
/// equivalents (unique local holds AWS's IPv6 metadata address), including IPv4 addresses
/// embedded in IPv6 ones.
pub fn is_forbidden_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && v4.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn is_forbidden_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let segments = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits, 6to4 (2002::/16) in its
    // second and third segments.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_forbidden_v4(v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return is_forbidden_v4(v4(segments[1], segments[2]));
    }
    // Teredo (2001::/32) and local-use NAT64 (64:ff9b:1::/48) tunnel to addresses this check
    // cannot see: never a webhook's.
    if segments[..2] == [0x2001, 0] || segments[..3] == [0x64, 0xff9b, 1] {
        return true;
    }
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || segments[..2] == [0x2001, 0x0db8]
        || segments[..6] == [0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests;
