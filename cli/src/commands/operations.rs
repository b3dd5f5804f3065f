//! `pb registry …`, `pb audit latest` and `pb executions …`.

use serde_json::Value;

use super::Context;
use crate::args::{AuditCommand, ExecutionsCommand, RegistryCommand};
use crate::error::{CliError, EXIT_REFUSED};
use crate::render::{cell, cells, object_table, table};

pub async fn registry(context: &Context, command: RegistryCommand) -> Result<u8, CliError> {
    let api = context.api()?;
    let items: Vec<Value> = match command {
        RegistryCommand::List => api.list_all(&["api", "registry"], &[]).await?,
        RegistryCommand::Show { pipeline_id } => {
            let entry: Value = api.get(&["api", "registry", &pipeline_id], &[]).await?;
            if context.json {
                context.print_json(&entry)?;
                return Ok(0);
            }
            vec![entry]
        }
    };
    if context.json {
        context.print_json(&items)?;
        return Ok(0);
    }
    let columns = [
        "pipelineId",
        "pipelineName",
        "stackName",
        "region",
        "definitionVersion",
        "lastDeployed",
    ];
    let rows: Vec<Vec<String>> = items.iter().map(|i| cells(i, &columns)).collect();
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
    let run: Value = context
        .api()?
        .get(&["api", "audit", "runs", "latest"], &[])
        .await?;
    let findings = run["findings"].as_array().cloned().unwrap_or_default();
    if context.json {
        context.print_json(&run)?;
    } else {
        println!(
            "audit {} ({}), status {}",
            cell(&run["startedAt"]),
            cell(&run["trigger"]),
            cell(&run["status"])
        );
        let columns = [
            "type",
            "region",
            "stackName",
            "status",
            "pipelineId",
            "remediation",
        ];
        let rows: Vec<Vec<String>> = findings.iter().map(|f| cells(f, &columns)).collect();
        if !rows.is_empty() {
            print!(
                "{}",
                table(
                    &["finding", "region", "stack", "status", "pipeline", "fix"],
                    &rows
                )
            );
        }
        for unscanned in run["unscanned"].as_array().into_iter().flatten() {
            println!(
                "not scanned: {} ({})",
                cell(&unscanned["region"]),
                cell(&unscanned["kind"])
            );
        }
    }
    Ok(match run["status"].as_str() {
        Some("clean") => 0,
        Some("drift") => EXIT_REFUSED,
        _ => crate::error::EXIT_SERVER,
    })
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
