//! Reading the user's files: one document each, YAML or JSON, checked here so a mistake is
//! reported with its file, line and column before anything is sent.

use std::fs;
use std::path::{Path, PathBuf};

use pb_domain::yaml::{self, Limits};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::CliError;

/// A file's text and its parsed document.
pub struct Document {
    pub path: PathBuf,
    pub text: String,
    pub value: Value,
}

pub fn read_document(path: &Path) -> Result<Document, CliError> {
    let text = fs::read_to_string(path)
        .map_err(|error| CliError::Usage(format!("cannot read {}: {error}", path.display())))?;
    // JSON is YAML: one parser reports positions for both.
    let value = yaml::to_json(&text, Limits::BODY).map_err(|error| {
        CliError::Usage(format!(
            "{}:{}:{}: {}",
            path.display(),
            error.line,
            error.column,
            error.problem
        ))
    })?;
    Ok(Document {
        path: path.to_path_buf(),
        text,
        value,
    })
}

/// The document as `T`, naming the field that does not fit.
pub fn typed<T: DeserializeOwned>(document: &Document) -> Result<T, CliError> {
    serde_path_to_error::deserialize(&document.value).map_err(|error| {
        let path = match error.path().to_string().as_str() {
            "." => String::new(),
            field => format!("{field}: "),
        };
        CliError::Usage(format!(
            "{}: {path}{}",
            document.path.display(),
            error.inner()
        ))
    })
}

/// `paths` with each directory replaced by its `.yaml`, `.yml` and `.json` files, in name order.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = fs::read_dir(path).map_err(|error| {
                CliError::Usage(format!("cannot read {}: {error}", path.display()))
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_document_name(p))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(CliError::Usage(format!(
                    "{} holds no .yaml, .yml or .json file",
                    path.display()
                )));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_document_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pb-files-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn malformed_yaml_names_the_file_line_and_column() {
        let dir = scratch("yaml");
        let path = dir.join("bad.yaml");
        fs::write(&path, "name: a\nstages:\n  - name: [unclosed\n").unwrap();
        let error = read_document(&path).err().unwrap().to_string();
        assert!(
            error.starts_with(&format!("{}:", path.display())),
            "{error}"
        );
        assert!(error.contains(":4:") || error.contains(":3:"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_named_by_its_path() {
        let dir = scratch("typed");
        let path = dir.join("p.yaml");
        fs::write(&path, "name: a\nstages:\n  - name: build\n    steps: 7\n").unwrap();
        let document = read_document(&path).unwrap();
        let error = typed::<pb_domain::pipeline::PipelineSpec>(&document)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("stages[0].steps"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn directories_expand_to_their_documents_in_order() {
        let dir = scratch("expand");
        for name in ["b.yaml", "a.json", "notes.txt"] {
            fs::write(dir.join(name), "{}").unwrap();
        }
        let files = expand(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(files, [dir.join("a.json"), dir.join("b.yaml")]);
        let empty = scratch("expand-empty");
        assert!(expand(std::slice::from_ref(&empty)).is_err());
        fs::remove_dir_all(dir).unwrap();
        fs::remove_dir_all(empty).unwrap();
    }
}
