//! `pb rules …` and `pb exemptions …`.

use std::path::Path;

use pb_domain::compliance::{ExemptionRequest, RuleSpec};
use pb_domain::wire::compliance::{ExemptionView, RuleView};
use serde_json::json;

use super::Context;
use crate::args::{ExemptionsCommand, RulesCommand};
use crate::error::CliError;
use crate::files::{expand, read_document, typed};
use crate::render::{cells, table};

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
    let listing = matches!(command, ExemptionsCommand::List);
    let exemptions: Vec<ExemptionView> = match command {
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
            vec![
                api.post(&["api", "compliance", "exemptions"], &request)
                    .await?,
            ]
        }
        ExemptionsCommand::Approve { id } => vec![
            api.post(
                &["api", "compliance", "exemptions", &id, "approve"],
                &json!({}),
            )
            .await?,
        ],
        ExemptionsCommand::List => {
            api.list_all(&["api", "compliance", "exemptions"], &[])
                .await?
        }
    };
    if context.json {
        match exemptions.as_slice() {
            [one] if !listing => context.print_json(one)?,
            all => context.print_json(all)?,
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = exemptions
        .iter()
        .map(|e| {
            let mut row = cells(
                &json!(e),
                &[
                    "id",
                    "ruleId",
                    "entity",
                    "status",
                    "expiresAt",
                    "requestedBy",
                ],
            );
            row.push(
                e.exemption
                    .approved_by
                    .clone()
                    .unwrap_or_else(|| "-".into()),
            );
            row
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "id",
                "rule",
                "entity",
                "status",
                "expires",
                "requested by",
                "approved by"
            ],
            &rows
        )
    );
    Ok(0)
}
