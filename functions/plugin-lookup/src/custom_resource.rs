//! The CloudFormation custom-resource protocol of `Custom::PluginLookup`: the request envelope,
//! what each request type is answered with, and a response body CloudFormation accepts.

use std::collections::BTreeMap;
use std::fmt;

use pb_aws::AwsError;
use pb_domain::plugin::{LookupOutcome, ResolvedPlugin};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};

use crate::request::{LookupRequest, ReferenceForm};

/// CloudFormation refuses a response body larger than this (the whole body, not only `Data`).
pub const RESPONSE_BODY_LIMIT: usize = 4096;
/// CloudFormation's limit for a `PhysicalResourceId`.
const PHYSICAL_ID_LIMIT: usize = 1024;
const PHYSICAL_ID_PREFIX: &str = "pluginlookup";
const ELLIPSIS: &str = "...";

/// Whether a payload is a custom-resource request rather than a direct invoke.
pub fn is_custom_resource_request(payload: &Value) -> bool {
    payload.get("RequestType").is_some() && payload.get("ResponseURL").is_some()
}

/// A custom-resource request as CloudFormation sends it. Only `RequestType` and `ResponseURL` are
/// required: with those a request can always be answered, if need be with `FAILED`, so a stack
/// never waits an hour for an answer that cannot come.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnRequest {
    /// Kept as text so that a type this code does not know is answered rather than unparsed.
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: ResponseUrl,
    #[serde(default)]
    pub stack_id: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

/// The pre-signed URL the answer goes to. Whoever holds it can answer for the stack, so it is
/// never logged or shown in errors.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ResponseUrl(String);

impl ResponseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseUrl(<pre-signed, redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl CfnRequest {
    pub fn request_type(&self) -> Option<RequestType> {
        match self.request_type.as_str() {
            "Create" => Some(RequestType::Create),
            "Update" => Some(RequestType::Update),
            "Delete" => Some(RequestType::Delete),
            _ => None,
        }
    }

    /// The id to answer with. After Create the id CloudFormation sends back is kept: a different
    /// one would make CloudFormation treat an Update as a replacement. A Create gets an id derived
    /// from the lookup, so the same request always gets the same id.
    pub fn physical_id(&self, lookup: Option<&LookupRequest>) -> String {
        let sent = self
            .physical_resource_id
            .as_deref()
            .filter(|id| !id.is_empty());
        let keeps_sent_id = self.request_type() != Some(RequestType::Create);
        match (sent, lookup) {
            (Some(id), _) if keeps_sent_id => id.to_string(),
            (_, Some(lookup)) => derived_physical_id(lookup),
            _ => format!("{PHYSICAL_ID_PREFIX}-{}", self.request_id),
        }
    }

    pub fn succeeded(
        &self,
        physical_id: String,
        reason: impl Into<String>,
        data: BTreeMap<String, String>,
    ) -> CfnResponse {
        self.response(Status::Success, physical_id, reason.into(), data)
    }

    pub fn failed(&self, physical_id: String, reason: impl Into<String>) -> CfnResponse {
        self.response(Status::Failed, physical_id, reason.into(), BTreeMap::new())
    }

    fn response(
        &self,
        status: Status,
        physical_resource_id: String,
        reason: String,
        data: BTreeMap<String, String>,
    ) -> CfnResponse {
        CfnResponse {
            status,
            reason,
            physical_resource_id,
            stack_id: self.stack_id.clone(),
            request_id: self.request_id.clone(),
            logical_resource_id: self.logical_resource_id.clone(),
            data,
        }
    }
}

/// `pluginlookup-{org}-{name@range,…}` with the references sorted, so that their order in the
/// template does not matter; a hash of that text when it would exceed CloudFormation's 1 KB.
fn derived_physical_id(lookup: &LookupRequest) -> String {
    let mut references: Vec<String> = lookup
        .plugins
        .iter()
        .map(|plugin| format!("{}@{}", plugin.name, plugin.version))
        .collect();
    references.sort();
    let readable = format!(
        "{PHYSICAL_ID_PREFIX}-{}-{}",
        lookup.org_id,
        references.join(",")
    );
    if readable.len() <= PHYSICAL_ID_LIMIT {
        readable
    } else {
        format!(
            "{PHYSICAL_ID_PREFIX}-{:016x}",
            fnv1a_64(readable.as_bytes())
        )
    }
}

/// FNV-1a: fixed by its definition, so ids stay the same across Rust releases (std's hasher
/// does not promise that).
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
        }
    }
}

/// The answer PUT to the `ResponseURL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfnResponse {
    pub status: Status,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub data: BTreeMap<String, String>,
}

impl CfnResponse {
    /// The response document. `NoEcho` stays false: `Data` holds no secret, and masking it would
    /// hide the pinned versions from whoever reads the stack.
    pub fn to_json(&self) -> Value {
        let data = self
            .data
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect::<serde_json::Map<_, _>>();
        json!({
            "Status": self.status.as_str(),
            "Reason": self.reason,
            "PhysicalResourceId": self.physical_resource_id,
            "StackId": self.stack_id,
            "RequestId": self.request_id,
            "LogicalResourceId": self.logical_resource_id,
            "NoEcho": false,
            "Data": data,
        })
    }

    pub fn body(&self) -> String {
        self.to_json().to_string()
    }

    /// A response whose body fits [`RESPONSE_BODY_LIMIT`]. Pinned references that do not fit
    /// fail the resource instead of being trimmed: a template reading a dropped attribute would
    /// fail later with a less helpful message. An over-long failure reason is shortened.
    pub fn within_size_limit(self) -> CfnResponse {
        let size = self.body().len();
        if size <= RESPONSE_BODY_LIMIT {
            return self;
        }
        let response = match self.status {
            Status::Failed => self,
            Status::Success => CfnResponse {
                status: Status::Failed,
                reason: format!(
                    "the pinned plugin references need a {size}-byte response, over \
                     CloudFormation's {RESPONSE_BODY_LIMIT}-byte limit; split Plugins across \
                     several Custom::PluginLookup resources"
                ),
                data: BTreeMap::new(),
                ..self
            },
        };
        response.with_reason_shortened_to_fit()
    }

    fn with_reason_shortened_to_fit(mut self) -> CfnResponse {
        loop {
            let excess = self.body().len().saturating_sub(RESPONSE_BODY_LIMIT);
            if excess == 0 || self.reason.is_empty() {
                return self;
            }
            let keep = self.reason.len().saturating_sub(excess + ELLIPSIS.len());
            self.reason = if keep == 0 {
                String::new()
            } else {
                format!("{}{ELLIPSIS}", prefix_within(&self.reason, keep))
            };
        }
    }
}

impl Serialize for CfnResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary.
fn prefix_within(text: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The compact pinned reference of each resolved plugin; never the whole spec (commands and env
/// would not fit the response, and templates only need these).
pub fn pinned_data(form: ReferenceForm, resolved: &[ResolvedPlugin]) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    for plugin in resolved {
        let prefix = match form {
            ReferenceForm::Single => {
                data.insert("Name".to_string(), plugin.name.clone());
                String::new()
            }
            ReferenceForm::List => format!("{}.", plugin.name),
        };
        for (attribute, value) in pinned_attributes(plugin) {
            data.insert(format!("{prefix}{attribute}"), value);
        }
    }
    data
}

/// `Image` is left out for a plugin without one (a ManualApprovalStep): `Fn::GetAtt` on it then
/// fails the stack, which is right, since such a step has no image to run.
fn pinned_attributes(plugin: &ResolvedPlugin) -> Vec<(&'static str, String)> {
    let spec = &plugin.spec;
    let mut attributes = vec![
        ("Version", plugin.version.clone()),
        ("Ref", format!("{}@{}", plugin.name, plugin.version)),
        ("ComputeType", wire_name(&spec.compute_type)),
        ("TimeoutMinutes", spec.timeout_minutes.to_string()),
        ("PluginType", wire_name(&spec.plugin_type)),
        ("Source", wire_name(&plugin.from)),
    ];
    if let Some(image) = &spec.image {
        attributes.push(("Image", image.clone()));
    }
    attributes
}

/// The serde name of a unit enum variant, so `Data` uses the same words as the spec and the API.
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

pub fn resolved_reason(outcome: &LookupOutcome) -> String {
    format!("resolved {}", references(outcome.resolved.len()))
}

/// One line naming every reference that did not resolve and why.
pub fn unresolved_reason(outcome: &LookupOutcome) -> String {
    let total = outcome.resolved.len() + outcome.unresolved.len();
    let details: Vec<String> = outcome
        .unresolved
        .iter()
        .map(|plugin| format!("{}@{}: {}", plugin.name, plugin.requested, plugin.reason))
        .collect();
    format!(
        "{} of {} could not be resolved: {}",
        outcome.unresolved.len(),
        references(total),
        details.join("; ")
    )
}

fn references(count: usize) -> String {
    match count {
        1 => "1 plugin reference".to_string(),
        _ => format!("{count} plugin references"),
    }
}

pub fn catalog_failure_reason(error: &AwsError) -> String {
    format!("plugin catalog lookup failed ({}): {error}", error.kind())
}

#[cfg(test)]
mod tests {
    use pb_domain::plugin::RequestedPlugin;

    use super::*;

    fn request(request_type: &str, physical_id: Option<&str>) -> CfnRequest {
        CfnRequest {
            request_type: request_type.into(),
            response_url: ResponseUrl("https://example.com/answer?X-Amz-Signature=s".into()),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1".into(),
            request_id: "req-1".into(),
            logical_resource_id: "BuildStep".into(),
            physical_resource_id: physical_id.map(str::to_string),
            resource_properties: Value::Null,
        }
    }

    fn lookup(references: &[(&str, &str)]) -> LookupRequest {
        LookupRequest {
            org_id: "acme".into(),
            plugins: references
                .iter()
                .map(|(name, version)| RequestedPlugin {
                    name: name.to_string(),
                    version: version.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn create_derives_an_id_independent_of_reference_order() {
        let create = request("Create", None);
        let id = create.physical_id(Some(&lookup(&[("lint", "^3"), ("build", "~1.2")])));
        assert_eq!(id, "pluginlookup-acme-build@~1.2,lint@^3");
        let reordered = create.physical_id(Some(&lookup(&[("build", "~1.2"), ("lint", "^3")])));
        assert_eq!(reordered, id);
    }

    #[test]
    fn a_long_id_is_hashed_to_fit_cloudformations_limit() {
        let names: Vec<(String, &str)> = (0..100)
            .map(|i| (format!("plugin-{i:03}"), "^1.0.0"))
            .collect();
        let references: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let id = request("Create", None).physical_id(Some(&lookup(&references)));
        assert_eq!(id.len(), "pluginlookup-".len() + 16);
        assert!(id.starts_with("pluginlookup-"));
        assert_eq!(
            id,
            request("Create", None).physical_id(Some(&lookup(&references)))
        );
    }

    #[test]
    fn update_and_delete_keep_the_id_cloudformation_sent() {
        let sent = Some("pluginlookup-acme-build@^1.2");
        let changed = lookup(&[("build", "latest")]);
        assert_eq!(
            request("Update", sent).physical_id(Some(&changed)),
            "pluginlookup-acme-build@^1.2"
        );
        assert_eq!(
            request("Delete", sent).physical_id(None),
            "pluginlookup-acme-build@^1.2"
        );
        assert_eq!(
            request("Create", None).physical_id(None),
            "pluginlookup-req-1"
        );
    }

    #[test]
    fn the_body_has_every_protocol_field() {
        let data = BTreeMap::from([("Version".to_string(), "1.4.1".to_string())]);
        let response = request("Create", None).succeeded("id-1".into(), "resolved", data);
        let body: Value = serde_json::from_str(&response.body()).unwrap();
        assert_eq!(
            body,
            json!({
                "Status": "SUCCESS", "Reason": "resolved", "PhysicalResourceId": "id-1",
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
                "RequestId": "req-1", "LogicalResourceId": "BuildStep", "NoEcho": false,
                "Data": {"Version": "1.4.1"}
            })
        );
    }

    #[test]
    fn an_oversized_success_becomes_a_failure_naming_the_limit() {
        let data: BTreeMap<String, String> = (0..100)
            .map(|i| (format!("plugin-{i:03}.Image"), "x".repeat(40)))
            .collect();
        let response = request("Create", None)
            .succeeded("id-1".into(), "resolved", data)
            .within_size_limit();
        assert_eq!(response.status, Status::Failed);
        assert!(response.data.is_empty());
        assert!(response
            .reason
            .starts_with("the pinned plugin references need a "));
        assert!(response
            .reason
            .contains("over CloudFormation's 4096-byte limit"));
        assert!(response.body().len() <= RESPONSE_BODY_LIMIT);
    }

    #[test]
    fn an_oversized_failure_reason_is_shortened_on_a_character_boundary() {
        let reason = "é".repeat(5000);
        let response = request("Create", None)
            .failed("id-1".into(), reason)
            .within_size_limit();
        assert!(response.body().len() <= RESPONSE_BODY_LIMIT);
        assert!(response.body().len() > RESPONSE_BODY_LIMIT - 8);
        assert!(response.reason.ends_with("é..."));
    }

    #[test]
    fn the_response_url_is_never_printed() {
        let printed = format!("{:?}", request("Create", None));
        assert!(!printed.contains("X-Amz-Signature"), "{printed}");
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
