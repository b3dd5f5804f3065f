//! What a caller asks for, in either form — a direct invoke's `{orgId, plugins}` or a custom
//! resource's `ResourceProperties` — checked before the catalog is read.

use std::collections::BTreeSet;

use pb_domain::plugin::{RequestedPlugin, MAX_LOOKUP_REFERENCES};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// Why a request cannot be looked up at all. Field names are the ones of the form the caller used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0} is required and must not be blank")]
    Missing(&'static str),
    #[error("no plugin reference given")]
    NoPlugins,
    #[error(
        "{count} plugin references given; at most {MAX_LOOKUP_REFERENCES} are resolved at once"
    )]
    TooManyPlugins { count: usize },
    #[error("give either Name and Version, or Plugins, not both")]
    NameAndPlugins,
    #[error("plugin '{0}' is listed more than once; one resource pins one version per name")]
    DuplicateName(String),
}

/// A lookup worth sending to the catalog: an org and 1 to [`MAX_LOOKUP_REFERENCES`] references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    pub org_id: String,
    pub plugins: Vec<RequestedPlugin>,
}

impl LookupRequest {
    /// A direct invoke: `{"orgId": "…", "plugins": [{"name": "…", "version": "…"}, …]}`.
    pub fn from_direct(payload: &Value) -> Result<Self, RequestError> {
        let wire = DirectRequest::deserialize(an_object(payload)?).map_err(malformed)?;
        Self::checked("orgId", wire.org_id, wire.plugins)
    }

    fn checked(
        org_field: &'static str,
        org_id: String,
        plugins: Vec<RequestedPlugin>,
    ) -> Result<Self, RequestError> {
        if org_id.trim().is_empty() {
            return Err(RequestError::Missing(org_field));
        }
        match plugins.len() {
            0 => Err(RequestError::NoPlugins),
            count if count > MAX_LOOKUP_REFERENCES => Err(RequestError::TooManyPlugins { count }),
            _ => Ok(LookupRequest { org_id, plugins }),
        }
    }
}

/// Missing fields default to empty so that they are reported as [`RequestError::Missing`] or
/// [`RequestError::NoPlugins`] rather than as a serde message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DirectRequest {
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    plugins: Vec<RequestedPlugin>,
}

/// How a custom resource named its plugins; decides the shape of its `Data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceForm {
    /// `Name` + `Version`: `Data` keys are the bare attribute names (`Version`, `Image`, …).
    Single,
    /// `Plugins: [{Name, Version}]`: `Data` keys are `{name}.{attribute}`.
    List,
}

/// The checked `ResourceProperties` of a `Custom::PluginLookup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceProperties {
    pub lookup: LookupRequest,
    pub form: ReferenceForm,
}

impl ResourceProperties {
    pub fn parse(properties: &Value) -> Result<Self, RequestError> {
        let wire = WireProperties::deserialize(an_object(properties)?).map_err(malformed)?;
        let (plugins, form) = match (wire.name, wire.version, wire.plugins) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(RequestError::NameAndPlugins)
            }
            (Some(name), Some(version), None) => (
                vec![RequestedPlugin { name, version }],
                ReferenceForm::Single,
            ),
            (Some(_), None, None) => return Err(RequestError::Missing("Version")),
            (None, Some(_), None) => return Err(RequestError::Missing("Name")),
            (None, None, Some(list)) => (
                list.into_iter().map(Into::into).collect(),
                ReferenceForm::List,
            ),
            (None, None, None) => return Err(RequestError::NoPlugins),
        };
        let lookup = LookupRequest::checked("OrgId", wire.org_id.unwrap_or_default(), plugins)?;
        reject_repeated_names(&lookup.plugins)?;
        Ok(ResourceProperties { lookup, form })
    }
}

/// Repeated names would write the same `{name}.*` keys of `Data` twice.
fn reject_repeated_names(plugins: &[RequestedPlugin]) -> Result<(), RequestError> {
    let mut seen = BTreeSet::new();
    match plugins
        .iter()
        .find(|plugin| !seen.insert(plugin.name.as_str()))
    {
        Some(repeated) => Err(RequestError::DuplicateName(repeated.name.clone())),
        None => Ok(()),
    }
}

/// CloudFormation passes every property value as a string, so nothing here is a number or bool.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WireProperties {
    /// CloudFormation copies the resource's `ServiceToken` into its properties.
    #[serde(rename = "ServiceToken")]
    _service_token: Option<IgnoredAny>,
    org_id: Option<String>,
    name: Option<String>,
    version: Option<String>,
    plugins: Option<Vec<WirePlugin>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "PascalCase",
    deny_unknown_fields,
    expecting = "an object {Name, Version}"
)]
struct WirePlugin {
    name: String,
    version: String,
}

impl From<WirePlugin> for RequestedPlugin {
    fn from(plugin: WirePlugin) -> Self {
        RequestedPlugin {
            name: plugin.name,
            version: plugin.version,
        }
    }
}

/// serde would also build a struct from an array of its fields in order; a request is an object.
fn an_object(value: &Value) -> Result<&Value, RequestError> {
    match value {
        Value::Object(_) => Ok(value),
        other => Err(RequestError::Malformed(format!(
            "expected a JSON object, got {}",
            json_type(other)
        ))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn malformed(error: serde_json::Error) -> RequestError {
    RequestError::Malformed(error.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plugin(name: &str, version: &str) -> RequestedPlugin {
        RequestedPlugin {
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn a_direct_request_keeps_its_references_in_order() {
        let request = LookupRequest::from_direct(&json!({
            "orgId": "acme",
            "plugins": [{"name": "lint", "version": "^3"}, {"name": "build", "version": "latest"}]
        }));
        assert_eq!(
            request,
            Ok(LookupRequest {
                org_id: "acme".into(),
                plugins: vec![plugin("lint", "^3"), plugin("build", "latest")],
            })
        );
    }

    #[test]
    fn a_direct_request_names_what_is_wrong() {
        let cases = [
            (
                json!({"plugins": [{"name": "a", "version": "1"}]}),
                RequestError::Missing("orgId"),
            ),
            (
                json!({"orgId": " ", "plugins": [{"name": "a", "version": "1"}]}),
                RequestError::Missing("orgId"),
            ),
            (json!({"orgId": "acme"}), RequestError::NoPlugins),
            (
                json!({"orgId": "acme", "plugins": []}),
                RequestError::NoPlugins,
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                LookupRequest::from_direct(&payload),
                Err(expected),
                "{payload}"
            );
        }
    }

    #[test]
    fn a_direct_request_of_the_wrong_shape_is_malformed_with_serdes_reason() {
        let malformed = |message: &str| Err(RequestError::Malformed(message.into()));
        let cases = [
            (
                json!({"orgID": "acme"}),
                "unknown field `orgID`, expected `orgId` or `plugins`",
            ),
            (json!(["acme"]), "expected a JSON object, got an array"),
            (
                json!({"orgId": "acme", "plugins": "build"}),
                "invalid type: string \"build\", expected a sequence",
            ),
            (
                json!({"orgId": "acme", "plugins": [{"name": "build"}]}),
                "missing field `version`",
            ),
        ];
        for (payload, message) in cases {
            assert_eq!(LookupRequest::from_direct(&payload), malformed(message));
        }
    }

    #[test]
    fn properties_name_one_plugin_or_a_list() {
        let single = ResourceProperties::parse(&json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:lookup",
            "OrgId": "acme", "Name": "build", "Version": "^1.2"
        }));
        assert_eq!(
            single,
            Ok(ResourceProperties {
                lookup: LookupRequest {
                    org_id: "acme".into(),
                    plugins: vec![plugin("build", "^1.2")]
                },
                form: ReferenceForm::Single,
            })
        );
        let list = ResourceProperties::parse(&json!({
            "OrgId": "acme",
            "Plugins": [{"Name": "build", "Version": "^1.2"}, {"Name": "lint", "Version": "*"}]
        }));
        assert_eq!(
            list.map(|p| (p.lookup.plugins, p.form)),
            Ok((
                vec![plugin("build", "^1.2"), plugin("lint", "*")],
                ReferenceForm::List
            ))
        );
    }

    #[test]
    fn properties_name_what_is_wrong() {
        let one = json!([{"Name": "build", "Version": "1"}]);
        let cases = [
            (
                json!({"Name": "build", "Version": "1"}),
                RequestError::Missing("OrgId"),
            ),
            (
                json!({"OrgId": "acme", "Name": "build"}),
                RequestError::Missing("Version"),
            ),
            (
                json!({"OrgId": "acme", "Version": "1"}),
                RequestError::Missing("Name"),
            ),
            (json!({"OrgId": "acme"}), RequestError::NoPlugins),
            (
                json!({"OrgId": "acme", "Plugins": []}),
                RequestError::NoPlugins,
            ),
            (
                json!({"OrgId": "acme", "Name": "build", "Plugins": one}),
                RequestError::NameAndPlugins,
            ),
            (
                json!({"OrgId": "acme", "Plugins": [{"Name": "build", "Version": "1"}, {"Name": "build", "Version": "2"}]}),
                RequestError::DuplicateName("build".into()),
            ),
        ];
        for (properties, expected) in cases {
            assert_eq!(
                ResourceProperties::parse(&properties),
                Err(expected),
                "{properties}"
            );
        }
    }

    #[test]
    fn properties_of_the_wrong_shape_are_malformed() {
        let malformed = |message: &str| Err(RequestError::Malformed(message.into()));
        let cases = [
            (
                json!({"OrgId": "acme", "Name": "b", "Versoin": "1"}),
                "unknown field `Versoin`, expected one of `ServiceToken`, `OrgId`, `Name`, \
                 `Version`, `Plugins`",
            ),
            (
                json!({"OrgId": "acme", "Name": "b", "Version": 1}),
                "invalid type: integer `1`, expected a string",
            ),
            (
                json!({"OrgId": "acme", "Plugins": ["build@1"]}),
                "invalid type: string \"build@1\", expected an object {Name, Version}",
            ),
            (Value::Null, "expected a JSON object, got null"),
        ];
        for (properties, message) in cases {
            assert_eq!(ResourceProperties::parse(&properties), malformed(message));
        }
    }

    #[test]
    fn more_than_the_maximum_is_refused_with_the_count() {
        let plugins: Vec<Value> = (0..=MAX_LOOKUP_REFERENCES)
            .map(|i| json!({"name": format!("p{i}"), "version": "1"}))
            .collect();
        assert_eq!(
            LookupRequest::from_direct(&json!({"orgId": "acme", "plugins": plugins})),
            Err(RequestError::TooManyPlugins {
                count: MAX_LOOKUP_REFERENCES + 1
            })
        );
    }
}
