//! `pb registry …`, `pb audit latest` and `pb executions …`.

use pb_domain::drift::RunStatus;
use pb_domain::wire::audit::OrgAuditRun;
use pb_domain::wire::registry::RegistryView;
use serde_json::{json, Value};

use super::Context;
use crate::args::{AuditCommand, ExecutionsCommand, RegistryCommand};
use crate::error::{CliError, EXIT_REFUSED, EXIT_SERVER};
use crate::render::{cell, cells, object_table, table};

pub async fn registry(context: &Context, command: RegistryCommand) -> Result<u8, CliError> {
    let api = context.api()?;
    let entries: Vec<RegistryView> = match command {
        RegistryCommand::List => api.list_all(&["api", "registry"], &[]).await?,
        RegistryCommand::Show { pipeline_id } => {
            let entry: RegistryView = api.get(&["api", "registry", &pipeline_id], &[]).await?;
            if context.json {
                context.print_json(&entry)?;
                return Ok(0);
            }
            vec![entry]
        }
    };
    if context.json {
        context.print_json(&entries)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.pipeline_id.clone(),
                e.pipeline_name.clone(),
                e.stack_name.clone(),
                e.region.clone(),
                e.definition_version
                    .map_or_else(|| "-".to_string(), |v| v.to_string()),
                e.last_deployed.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["pipeline", "name", "stack", "region", "version", "deployed"],
            &rows
        )
    );
    Ok(0)
}

/// Exit 0 when the latest run found nothing for the org, 1 when it found drift; a run that could
/// not read everything is a server-side failure (5), whatever it found.
pub async fn audit(context: &Context, command: AuditCommand) -> Result<u8, CliError> {
    let AuditCommand::Latest = command;
    let run: OrgAuditRun = context
        .api()?
        .get(&["api", "audit", "runs", "latest"], &[])
        .await?;
    if context.json {
        context.print_json(&run)?;
    } else {
        print!("{}", render_audit(&run));
    }
    Ok(match run.status {
        RunStatus::Clean => 0,
        RunStatus::Drift => EXIT_REFUSED,
        RunStatus::Partial | RunStatus::Failed => EXIT_SERVER,
    })
}

fn render_audit(run: &OrgAuditRun) -> String {
    let mut out = format!(
        "audit {} ({}), status {}\n",
        run.started_at,
        run.trigger,
        cell(&json!(run.status))
    );
    let rows: Vec<Vec<String>> = run
        .findings
        .iter()
        .map(|f| {
            vec![
                f.kind.as_str().to_string(),
                f.region.clone(),
                f.stack_name.clone(),
                f.status.clone().unwrap_or_else(|| "-".into()),
                f.pipeline_id.clone().unwrap_or_else(|| "-".into()),
                f.remediation.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["finding", "region", "stack", "status", "pipeline", "fix"],
            &rows,
        ));
    }
    for unscanned in &run.unscanned {
        out.push_str(&format!(
            "not scanned: {} ({})\n",
            unscanned.region.as_deref().unwrap_or("the registry"),
            unscanned.kind
        ));
    }
    for token in &run.expiring_tokens {
        out.push_str(&format!(
            "stored platform token {} expires {}: store a new one (pb tokens create --store)\n",
            token.jti, token.expires_at
        ));
    }
    out
}

pub async fn executions(context: &Context, command: ExecutionsCommand) -> Result<u8, CliError> {
    let api = context.api()?;
    match command {
        ExecutionsCommand::List {
            pipeline_id,
            status,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status", status));
            }
            let segments = ["api", "pipelines", pipeline_id.as_str(), "executions"];
            let items: Vec<Value> = match limit {
                Some(limit) => {
                    query.push(("limit", limit.to_string()));
                    let page: Value = api.get(&segments, &query).await?;
                    page["items"].as_array().cloned().unwrap_or_default()
                }
                None => api.list_all(&segments, &query).await?,
            };
            if context.json {
                context.print_json(&items)?;
                return Ok(0);
            }
            let columns = [
                "executionId",
                "status",
                "startedAt",
                "durationMs",
                "failure.stage",
            ];
            let rows: Vec<Vec<String>> = items.iter().map(|i| cells(i, &columns)).collect();
            print!(
                "{}",
                table(
                    &["execution", "status", "started", "ms", "failed stage"],
                    &rows
                )
            );
        }
        ExecutionsCommand::Show {
            pipeline_id,
            execution_id,
        } => {
            let detail: Value = api
                .get(
                    &[
                        "api",
                        "pipelines",
                        &pipeline_id,
                        "executions",
                        &execution_id,
                    ],
                    &[],
                )
                .await?;
            if context.json {
                context.print_json(&detail)?;
                return Ok(0);
            }
            println!(
                "execution {} {}",
                cell(&detail["executionId"]),
                cell(&detail["status"])
            );
            for stage in detail["stages"].as_array().into_iter().flatten() {
                println!("stage {}", cell(&stage["name"]));
                let attempts = stage["attempts"].as_array().cloned().unwrap_or_default();
                if let Some(last) = attempts.last() {
                    let actions = last["actions"].as_array().cloned().unwrap_or_default();
                    print!("{}", indent(&object_table(&actions)));
                }
            }
        }
    }
    Ok(0)
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}
