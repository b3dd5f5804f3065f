//! Repository YAML files (CloudFormation templates, eksctl configs) as JSON for assertions.

use std::path::Path;

use pb_domain::yaml::{to_json, Limits, Tags};
use serde_json::Value;

/// The text of a file, by its path from the repository root.
pub fn read_repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative} is readable: {e}"))
}

/// Repository files are trusted and large (template.yaml has hundreds of resources); only the
/// CloudFormation short-form tags need an option.
const REPOSITORY: Limits = Limits {
    max_depth: 64,
    max_nodes: 1_000_000,
    tags: Tags::ShortFormObjects,
};

/// A repository YAML file as JSON; CloudFormation short-form tags become `{"!Tag": value}`.
pub fn repo_yaml(relative: &str) -> Value {
    to_json(&read_repo_file(relative), REPOSITORY)
        .unwrap_or_else(|e| panic!("{relative} is YAML: {e}"))
}

/// A YAML sample (a plugin spec) as JSON, parsed the way the API parses request bodies.
pub fn body_yaml(bytes: &[u8]) -> Value {
    let text = std::str::from_utf8(bytes).expect("samples are UTF-8");
    to_json(text, Limits::BODY).unwrap_or_else(|e| panic!("the sample is YAML: {e}"))
}
