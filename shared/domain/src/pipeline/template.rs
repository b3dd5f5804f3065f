//! Templating of string values: `{{ vars.x }}`, `{{ metadata.x }}`, a bare `{{ x }}` (= `vars.x`)
//! and a fallback `{{ x | default: 'y' }}`. Vars and metadata may use templates themselves; a
//! cycle is an error naming its members. Names (pipeline, stage, step) and plugin references are
//! never templated: they identify things and must read the same everywhere.

use std::collections::{BTreeMap, HashMap};

use crate::plugin::FieldError;

use super::spec::{PipelineSpec, SourceSpec};

/// Longest value a template may expand to; stops `a = {{b}}{{b}}`, `b = {{c}}{{c}}`, … from
/// doubling its way to gigabytes.
pub const MAX_EXPANDED_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Namespace {
    Vars,
    Metadata,
}

impl Namespace {
    fn label(self) -> &'static str {
        match self {
            Namespace::Vars => "vars",
            Namespace::Metadata => "metadata",
        }
    }
}

type Key = (Namespace, String);

struct Resolver<'a> {
    vars: &'a BTreeMap<String, String>,
    metadata: &'a BTreeMap<String, String>,
    done: HashMap<Key, String>,
}

/// The spec with every template expanded, or every template problem with its field path.
pub fn resolve(spec: &PipelineSpec) -> Result<PipelineSpec, Vec<FieldError>> {
    let mut resolver = Resolver {
        vars: &spec.vars,
        metadata: &spec.metadata,
        done: HashMap::new(),
    };
    let mut problems = Vec::new();
    let mut out = spec.clone();
    for (namespace, values) in [
        (Namespace::Vars, &mut out.vars),
        (Namespace::Metadata, &mut out.metadata),
    ] {
        for (name, value) in values.iter_mut() {
            // Resolved by key, so that a cycle is reported starting from this entry.
            match resolver.lookup(&(namespace, name.clone()), &mut Vec::new()) {
                Ok(Some(text)) => *value = text,
                Ok(None) => {}
                Err(message) => problems.push(FieldError {
                    field: format!("{}.{name}", namespace.label()),
                    message,
                }),
            }
        }
    }
    let mut render = |field: String, value: &mut String| match resolver.render_field(value) {
        Ok(text) => *value = text,
        Err(message) => problems.push(FieldError { field, message }),
    };
    render("description".into(), &mut out.description);
    for (name, value) in out.tags.iter_mut() {
        render(format!("tags.{name}"), value);
    }
    for (field, value) in source_fields(&mut out.source) {
        render(format!("source.{field}"), value);
    }
    for (i, stage) in out.stages.iter_mut().enumerate() {
        if let Some(environment) = stage.environment.as_mut() {
            render(format!("stages[{i}].environment"), environment);
        }
        for (j, step) in stage.steps.iter_mut().enumerate() {
            for (name, value) in step.env.iter_mut() {
                render(format!("stages[{i}].steps[{j}].env.{name}"), value);
            }
            for (name, value) in step.metadata.iter_mut() {
                render(format!("stages[{i}].steps[{j}].metadata.{name}"), value);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// `text` with its templates expanded against `vars` and `metadata` (already expanded
/// themselves): how a plugin's own env values take the pipeline's vars and the step's metadata.
pub fn render_with(
    vars: &BTreeMap<String, String>,
    metadata: &BTreeMap<String, String>,
    text: &str,
) -> Result<String, String> {
    Resolver {
        vars,
        metadata,
        done: HashMap::new(),
    }
    .render_field(text)
}

fn source_fields(source: &mut SourceSpec) -> Vec<(&'static str, &mut String)> {
    match source {
        SourceSpec::Github { repo, branch, .. } => vec![("repo", repo), ("branch", branch)],
        SourceSpec::Codecommit { repository, branch } => {
            vec![("repository", repository), ("branch", branch)]
        }
        SourceSpec::S3 { bucket, key } => vec![("bucket", bucket), ("key", key)],
    }
}

impl Resolver<'_> {
    fn render_field(&mut self, text: &str) -> Result<String, String> {
        self.render(text, &mut Vec::new())
    }

    fn render(&mut self, text: &str, chain: &mut Vec<Key>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in '{}'", excerpt(text)))?;
            out.push_str(&self.expression(after[..end].trim(), chain)?);
            if out.len() > MAX_EXPANDED_BYTES {
                return Err(format!("expands to more than {MAX_EXPANDED_BYTES} bytes"));
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        if out.len() > MAX_EXPANDED_BYTES {
            return Err(format!("expands to more than {MAX_EXPANDED_BYTES} bytes"));
        }
        Ok(out)
    }

    fn expression(&mut self, expression: &str, chain: &mut Vec<Key>) -> Result<String, String> {
        let (path, fallback) = match expression.split_once('|') {
            None => (expression.trim(), None),
            Some((path, filter)) => (path.trim(), Some(parse_default(filter.trim())?)),
        };
        let key = parse_path(path)?;
        match self.lookup(&key, chain)? {
            Some(value) => Ok(value),
            None => fallback.ok_or_else(|| {
                format!(
                    "'{}.{}' is not defined (add it, or write {{{{ {path} | default: '…' }}}})",
                    key.0.label(),
                    key.1
                )
            }),
        }
    }

    fn lookup(&mut self, key: &Key, chain: &mut Vec<Key>) -> Result<Option<String>, String> {
        if let Some(done) = self.done.get(key) {
            return Ok(Some(done.clone()));
        }
        let source = match key.0 {
            Namespace::Vars => self.vars,
            Namespace::Metadata => self.metadata,
        };
        let Some(raw) = source.get(&key.1) else {
            return Ok(None);
        };
        if chain.contains(key) {
            let mut cycle: Vec<String> = chain
                .iter()
                .skip_while(|k| *k != key)
                .map(|(ns, name)| format!("{}.{name}", ns.label()))
                .collect();
            cycle.push(format!("{}.{}", key.0.label(), key.1));
            return Err(format!("template cycle: {}", cycle.join(" → ")));
        }
        chain.push(key.clone());
        let rendered = self.render(raw, chain);
        chain.pop();
        let rendered = rendered?;
        self.done.insert(key.clone(), rendered.clone());
        Ok(Some(rendered))
    }
}

fn parse_path(path: &str) -> Result<Key, String> {
    let (namespace, name) = match path.split_once('.') {
        Some(("vars", name)) => (Namespace::Vars, name),
        Some(("metadata", name)) => (Namespace::Metadata, name),
        Some((other, _)) => {
            return Err(format!(
                "unknown template namespace '{other}': use vars.x or metadata.x"
            ))
        }
        None => (Namespace::Vars, path),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if valid {
        Ok((namespace, name.to_string()))
    } else {
        Err(format!("'{path}' is not a template variable name"))
    }
}

/// `default: 'text'` or `default: "text"`.
fn parse_default(filter: &str) -> Result<String, String> {
    let argument = filter
        .strip_prefix("default")
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::trim)
        .ok_or_else(|| format!("unknown filter '{filter}': only `default: '…'` exists"))?;
    let quoted = ['\'', '"'].iter().find_map(|quote| {
        argument
            .strip_prefix(*quote)
            .and_then(|inner| inner.strip_suffix(*quote))
    });
    quoted
        .map(str::to_string)
        .ok_or_else(|| format!("the default must be quoted: default: '{argument}'"))
}

fn excerpt(text: &str) -> String {
    text.chars().take(60).collect()
}
