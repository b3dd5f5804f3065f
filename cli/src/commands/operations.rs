//! `pb registry …`, `pb audit latest` and `pb executions …`.

use pb_domain::drift::RunStatus;
use pb_domain::wire::audit::OrgAuditRun;
use pb_domain::wire::executions::{ExecutionDetail, ExecutionList, ExecutionSummary};
use pb_domain::wire::registry::RegistryView;
use serde_json::json;

use super::Context;
use crate::args::{AuditCommand, ExecutionsCommand, RegistryCommand};
use crate::error::{CliError, EXIT_REFUSED, EXIT_SERVER};
use crate::render::{cell, table};

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
            let items: Vec<ExecutionSummary> = match limit {
                Some(limit) => {
                    query.push(("limit", limit.to_string()));
                    api.get::<ExecutionList>(&segments, &query).await?.items
                }
                None => api.list_all(&segments, &query).await?,
            };
            if context.json {
                context.print_json(&items)?;
            } else {
                print!("{}", executions_table(&items));
            }
        }
        ExecutionsCommand::Show {
            pipeline_id,
            execution_id,
        } => {
            let detail: ExecutionDetail = api
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
            } else {
                print!("{}", execution_text(&detail));
            }
        }
    }
    Ok(0)
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

fn executions_table(items: &[ExecutionSummary]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e.execution_id.clone(),
                or_dash(e.status.as_deref()),
                or_dash(e.started_at.as_deref()),
                e.duration_ms
                    .map_or_else(|| "-".into(), |ms| ms.to_string()),
                or_dash(e.failure.as_ref().map(|f| f.stage.as_str())),
            ]
        })
        .collect();
    table(
        &["execution", "status", "started", "ms", "failed stage"],
        &rows,
    )
}

/// Each stage's latest attempt, one line per action with the plugin version it ran.
fn execution_text(detail: &ExecutionDetail) -> String {
    let summary = &detail.summary;
    let mut out = format!(
        "execution {} {} started {}\n",
        summary.execution_id,
        or_dash(summary.status.as_deref()),
        or_dash(summary.started_at.as_deref())
    );
    for stage in &detail.stages {
        let Some(latest) = stage.attempts.last() else {
            continue;
        };
        out.push_str(&format!(
            "stage {} (attempt {}) {}\n",
            stage.name,
            latest.attempt,
            or_dash(latest.status.as_deref())
        ));
        let rows: Vec<Vec<String>> = latest
            .actions
            .iter()
            .map(|a| {
                vec![
                    a.action.clone(),
                    or_dash(a.status.as_deref()),
                    a.plugin
                        .as_ref()
                        .map_or_else(|| "-".into(), |p| format!("{}@{}", p.name, p.version)),
                    or_dash(a.error.as_ref().and_then(|e| e.message.as_deref())),
                ]
            })
            .collect();
        out.push_str(&indent(&table(
            &["action", "status", "plugin", "error"],
            &rows,
        )));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

#[cfg(test)]
mod tests {
    use pb_domain::wire::executions::{ActionAttempt, PluginView, StageAttempt, StageView};

    use super::*;

    fn summary() -> ExecutionSummary {
        ExecutionSummary {
            execution_id: "e-1".into(),
            status: Some("FAILED".into()),
            attempt: Some(1),
            started_at: Some("2026-11-20T10:00:00.000Z".into()),
            completed_at: None,
            duration_ms: Some(61_000),
            trigger: None,
            source_revision: None,
            failure: None,
            started_by: None,
        }
    }

    #[test]
    fn an_execution_reads_as_its_stages_latest_attempts_with_plugin_versions() {
        let detail = ExecutionDetail {
            summary: summary(),
            stages: vec![StageView {
                name: "Build".into(),
                attempts: vec![StageAttempt {
                    attempt: 1,
                    status: Some("FAILED".into()),
                    started_at: None,
                    completed_at: None,
                    duration_ms: None,
                    actions: vec![ActionAttempt {
                        action: "node-build".into(),
                        status: Some("FAILED".into()),
                        started_at: None,
                        completed_at: None,
                        duration_ms: None,
                        category: None,
                        provider: None,
                        region: None,
                        plugin: Some(PluginView {
                            name: "node-build".into(),
                            version: "2.1.0".into(),
                        }),
                        error: None,
                    }],
                }],
            }],
        };
        assert_eq!(
            execution_text(&detail),
            "execution e-1 FAILED started 2026-11-20T10:00:00.000Z\n\
             stage Build (attempt 1) FAILED\n  \
             ACTION      STATUS  PLUGIN            ERROR\n  \
             node-build  FAILED  node-build@2.1.0  -\n"
        );
        assert_eq!(
            executions_table(&[summary()]),
            "EXECUTION  STATUS  STARTED                   MS     FAILED STAGE\n\
             e-1        FAILED  2026-11-20T10:00:00.000Z  61000  -\n"
        );
    }
}
