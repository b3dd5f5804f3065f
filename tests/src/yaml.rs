//! Repository YAML files (CloudFormation templates, eksctl configs) as JSON for assertions.

use std::path::Path;

use serde_json::{json, Value};

/// The text of a file, by its path from the repository root.
pub fn read_repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative} is readable: {e}"))
}

/// A repository YAML file as JSON; CloudFormation short-form tags become `{"!Tag": value}`.
pub fn repo_yaml(relative: &str) -> Value {
    let parsed: serde_yaml::Value = serde_yaml::from_str(&read_repo_file(relative))
        .unwrap_or_else(|e| panic!("{relative} is YAML: {e}"));
    to_json(parsed)
}

fn to_json(value: serde_yaml::Value) -> Value {
    match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect())
        }
        serde_yaml::Value::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
        serde_yaml::Value::Tagged(tagged) => {
            json!({ format!("!{}", tagged.tag.to_string().trim_start_matches('!')): to_json(tagged.value) })
        }
    }
}
