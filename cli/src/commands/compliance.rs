//! `pb rules …` and `pb exemptions …`.

use std::path::Path;

use pb_domain::compliance::{ExemptionRequest, RuleSpec};
use pb_domain::wire::compliance::RuleView;
use serde_json::{json, Value};

use super::Context;
use crate::args::{ExemptionsCommand, RulesCommand};
use crate::error::CliError;
use crate::files::{expand, read_document, typed};
use crate::render::{cells, object_table, table};

pub async fn rules(context: &Context, command: RulesCommand) -> Result<u8, CliError> {
    match command {
        RulesCommand::Apply { file } => apply_rules(context, &file).await,
        RulesCommand::List => list_rules(context).await,
    }
}

/// Each file's rule is the desired state of the org's rule of that name: created when absent,
/// else replaced with `If-Match` from the list just read.
async fn apply_rules(context: &Context, file: &Path) -> Result<u8, CliError> {
    let specs = expand(&[file.to_path_buf()])?
        .iter()
        .map(|path| typed::<RuleSpec>(&read_document(path)?))
        .collect::<Result<Vec<_>, _>>()?;
    let api = context.api()?;
    let existing: Vec<RuleView> = api.list_all(&["api", "compliance", "rules"], &[]).await?;
    let mut applied = Vec::new();
    for spec in specs {
        let (view, action) = match existing.iter().find(|r| r.spec.name == spec.name) {
            None => {
                let created: RuleView = api.post(&["api", "compliance", "rules"], &spec).await?;
                (created, "created")
            }
            Some(current) if current.spec == spec => (current.clone(), "unchanged"),
            Some(current) => {
                let etag = format!("\"{}\"", current.version);
                let replaced = api
                    .put_if_match::<_, RuleView>(
                        &["api", "compliance", "rules", &current.id],
                        &etag,
                        &spec,
                    )
                    .await?;
                (replaced.value, "updated")
            }
        };
        applied.push(json!({"id": view.id, "name": view.spec.name, "version": view.version, "action": action}));
    }
    if context.json {
        context.print_json(&applied)?;
    } else {
        let rows: Vec<Vec<String>> = applied
            .iter()
            .map(|a| cells(a, &["name", "action", "id", "version"]))
            .collect();
        print!("{}", table(&["rule", "action", "id", "version"], &rows));
    }
    Ok(0)
}

async fn list_rules(context: &Context) -> Result<u8, CliError> {
    let rules: Vec<RuleView> = context
        .api()?
        .list_all(&["api", "compliance", "rules"], &[])
        .await?;
    if context.json {
        context.print_json(&rules)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            let mut row = cells(
                &json!(r),
                &[
                    "id",
                    "spec.name",
                    "spec.target",
                    "spec.severity",
                    "spec.active",
                ],
            );
            row.push(r.spec.description.clone());
            row
        })
        .collect();
    print!(
        "{}",
        table(
            &["id", "name", "target", "severity", "active", "description"],
            &rows
        )
    );
    Ok(0)
}

pub async fn exemptions(context: &Context, command: ExemptionsCommand) -> Result<u8, CliError> {
    let api = context.api()?;
    let answer: Value = match command {
        ExemptionsCommand::Request {
            rule,
            entity,
            reason,
            expires_at,
        } => {
            let request = ExemptionRequest {
                rule_id: rule,
                entity,
                reason,
                expires_at,
            };
            api.post(&["api", "compliance", "exemptions"], &request)
                .await?
        }
        ExemptionsCommand::Approve { id } => {
            api.post(
                &["api", "compliance", "exemptions", &id, "approve"],
                &json!({}),
            )
            .await?
        }
        ExemptionsCommand::List => Value::Array(
            api.list_all(&["api", "compliance", "exemptions"], &[])
                .await?,
        ),
    };
    if context.json {
        context.print_json(&answer)?;
    } else {
        let items = match answer {
            Value::Array(items) => items,
            one => vec![one],
        };
        print!("{}", object_table(&items));
    }
    Ok(0)
}
