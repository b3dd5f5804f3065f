//! `pb plugins …`: publishing and reading the catalog.

use std::path::PathBuf;

use pb_domain::plugin::{PluginSpec, RequestedPlugin};
use pb_domain::wire::plugins::{PluginSummary, PluginVersion, Source, VersionList};
use pb_domain::yaml::to_yaml;
use serde::Serialize;
use serde_json::{json, Value};

use super::Context;
use crate::args::PluginsCommand;
use crate::client::Api;
use crate::error::{CliError, EXIT_REFUSED};
use crate::files::{expand, read_document, typed, Document};
use crate::render::{cells, table};

pub async fn plugins(context: &Context, command: PluginsCommand) -> Result<u8, CliError> {
    match command {
        PluginsCommand::Publish { paths } => publish(context, &paths).await,
        PluginsCommand::List => list(context).await,
        PluginsCommand::Show { name } => show(context, &name).await,
        PluginsCommand::Versions { name } => versions(context, &name).await,
        PluginsCommand::Lookup { references } => lookup(context, &references).await,
    }
}

/// What became of one file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Published {
    file: String,
    plugin: String,
    /// `new`, `exists` or `refused`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Every file is read and checked first, so a typo in one publishes none of them.
async fn publish(context: &Context, paths: &[PathBuf]) -> Result<u8, CliError> {
    let documents = expand(paths)?
        .iter()
        .map(|path| read_document(path))
        .collect::<Result<Vec<_>, _>>()?;
    let specs = documents
        .iter()
        .map(typed::<PluginSpec>)
        .collect::<Result<Vec<_>, _>>()?;
    let api = context.api()?;
    let mut results = Vec::new();
    for (document, spec) in documents.iter().zip(&specs) {
        results.push(publish_one(&api, document, spec).await?);
    }
    let refused = results.iter().any(|r| r.outcome == "refused");
    if context.json {
        context.print_json(&results)?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.plugin.clone(),
                    r.outcome.to_string(),
                    r.file.clone(),
                    r.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print!("{}", table(&["plugin", "outcome", "file", "reason"], &rows));
    }
    Ok(if refused { EXIT_REFUSED } else { 0 })
}

async fn publish_one(
    api: &Api,
    document: &Document,
    spec: &PluginSpec,
) -> Result<Published, CliError> {
    let plugin = format!("{}@{}", spec.name, spec.version);
    let outcome = |outcome, reason| Published {
        file: document.path.display().to_string(),
        plugin: plugin.clone(),
        outcome,
        reason,
    };
    match api
        .post_yaml::<PluginVersion>(&["api", "plugins"], document.text.clone())
        .await
    {
        Ok(_) => Ok(outcome("new", None)),
        Err(error) if error.exit_code() == EXIT_REFUSED => {
            // A 409 is either this very version, already published, or a name another org owns.
            if error.problem_code() == Some("conflict") && is_own_version(api, spec).await? {
                Ok(outcome("exists", None))
            } else {
                Ok(outcome("refused", Some(error.to_string())))
            }
        }
        Err(error) => Err(error),
    }
}

async fn is_own_version(api: &Api, spec: &PluginSpec) -> Result<bool, CliError> {
    match api
        .get::<PluginVersion>(&["api", "plugins", &spec.name, &spec.version], &[])
        .await
    {
        Ok(found) => Ok(found.source == Source::Org),
        Err(error) if error.exit_code() == crate::error::EXIT_NOT_FOUND => Ok(false),
        Err(error) => Err(error),
    }
}

async fn list(context: &Context) -> Result<u8, CliError> {
    let plugins: Vec<PluginSummary> = context.api()?.list_all(&["api", "plugins"], &[]).await?;
    if context.json {
        context.print_json(&plugins)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            let value = json!(p);
            let mut row = cells(
                &value,
                &[
                    "name",
                    "latestVersion",
                    "pluginType",
                    "source",
                    "accessModifier",
                ],
            );
            row.push(if p.deprecated { "deprecated" } else { "" }.to_string());
            row.push(p.description.clone());
            row
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "name",
                "latest",
                "type",
                "source",
                "access",
                "",
                "description"
            ],
            &rows
        )
    );
    Ok(0)
}

/// The newest version's spec, as YAML (the form it is published in).
async fn show(context: &Context, name: &str) -> Result<u8, CliError> {
    let versions: VersionList = context.api()?.get(&["api", "plugins", name], &[]).await?;
    let Some(latest) = versions.items.first() else {
        return Err(CliError::Refused(format!(
            "plugin '{name}' has no versions"
        )));
    };
    if context.json {
        context.print_json(latest)?;
    } else {
        print!("{}", to_yaml(&json!(latest.spec)));
    }
    Ok(0)
}

async fn versions(context: &Context, name: &str) -> Result<u8, CliError> {
    let versions: Vec<PluginVersion> = context
        .api()?
        .list_all(&["api", "plugins", name], &[])
        .await?;
    if context.json {
        context.print_json(&versions)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.spec.version.clone(),
                if v.spec.active { "active" } else { "inactive" }.to_string(),
                if v.deprecated { "deprecated" } else { "" }.to_string(),
                v.published_at.clone(),
                v.published_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["version", "status", "", "published", "by"], &rows)
    );
    Ok(0)
}

async fn lookup(context: &Context, references: &[String]) -> Result<u8, CliError> {
    let plugins = references
        .iter()
        .map(|reference| parse_reference(reference))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome: Value = context
        .api()?
        .post(
            &["api", "plugins", "lookup"],
            &json!({ "plugins": plugins }),
        )
        .await?;
    let unresolved = outcome["unresolved"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if context.json {
        context.print_json(&outcome)?;
    } else {
        let mut rows: Vec<Vec<String>> = outcome["resolved"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| cells(r, &["name", "requested", "version", "publisherOrg"]))
            .collect();
        rows.extend(unresolved.iter().map(|u| {
            let mut row = cells(u, &["name", "requested"]);
            row.push("-".into());
            row.push(format!("unresolved: {}", crate::render::cell(&u["reason"])));
            row
        }));
        print!(
            "{}",
            table(&["name", "range", "version", "publisher"], &rows)
        );
    }
    Ok(if unresolved.is_empty() {
        0
    } else {
        EXIT_REFUSED
    })
}

fn parse_reference(reference: &str) -> Result<RequestedPlugin, CliError> {
    match reference.split_once('@') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => Ok(RequestedPlugin {
            name: name.to_string(),
            version: version.to_string(),
        }),
        _ => Err(CliError::Usage(format!(
            "'{reference}' is not NAME@RANGE, e.g. node-build@^2"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_name_at_range() {
        let parsed = parse_reference("node-build@^2").unwrap();
        assert_eq!(
            (parsed.name.as_str(), parsed.version.as_str()),
            ("node-build", "^2")
        );
        for bad in ["node-build", "@^2", "node-build@"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
