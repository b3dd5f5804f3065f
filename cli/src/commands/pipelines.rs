//! `pb pipelines …`: declarative apply, the compliance dry run, templates and deployments.

use std::path::Path;
use std::time::{Duration, Instant};

use pb_domain::compliance::Violation;
use pb_domain::deployment::DeploymentStatus;
use pb_domain::pipeline::PipelineSpec;
use pb_domain::wire::compliance::{ValidateRequest, ValidateResponse};
use pb_domain::wire::deployments::DeploymentView;
use pb_domain::wire::pipelines::{PipelineSummary, PipelineView};
use pb_domain::wire::plugins::Source;
use pb_domain::yaml::to_yaml;
use serde_json::json;

use super::{end_progress, progress, Context};
use crate::args::PipelinesCommand;
use crate::client::Api;
use crate::error::{CliError, EXIT_REFUSED};
use crate::files::{read_document, typed};
use crate::render::{cells, table};

const POLL_INTERVAL: Duration = Duration::from_secs(2);

pub async fn run(context: &Context, command: PipelinesCommand) -> Result<u8, CliError> {
    match command {
        PipelinesCommand::Apply { file, if_match } => apply(context, &file, if_match).await,
        PipelinesCommand::Validate { file } => validate(context, &file).await,
        PipelinesCommand::List => list(context).await,
        PipelinesCommand::Show { id } => show(context, &id).await,
        PipelinesCommand::Delete { id, force } => delete(context, &id, force).await,
        PipelinesCommand::Template { id, yaml } => template(context, &id, yaml).await,
        PipelinesCommand::Deploy { id, wait, timeout } => {
            deploy(context, &id, wait, Duration::from_secs(timeout)).await
        }
    }
}

fn read_spec(file: &Path) -> Result<PipelineSpec, CliError> {
    typed(&read_document(file)?)
}

/// The file is the desired state. The org's pipeline of that name is created when absent, else
/// replaced with `If-Match` from a fresh read (or the version given), so a change made by
/// someone else in between is refused, never overwritten.
async fn apply(context: &Context, file: &Path, if_match: Option<u64>) -> Result<u8, CliError> {
    let spec = read_spec(file)?;
    let api = context.api()?;
    let (view, action) = match own_pipeline_named(&api, &spec.name).await? {
        None => {
            let created: PipelineView = api.post(&["api", "pipelines"], &spec).await?;
            (created, "created")
        }
        Some(found) => {
            let current = api
                .get_tagged::<PipelineView>(&["api", "pipelines", &found.id])
                .await?;
            let expected = match if_match {
                Some(version) => format!("\"{version}\""),
                None => current
                    .etag
                    .unwrap_or_else(|| format!("\"{}\"", current.value.version)),
            };
            if if_match.is_none() && current.value.spec == spec {
                (current.value, "unchanged")
            } else {
                let updated = api
                    .put_if_match::<_, PipelineView>(
                        &["api", "pipelines", &found.id],
                        &expected,
                        &spec,
                    )
                    .await
                    .map_err(|error| stale_refusal(error, &spec.name))?;
                (updated.value, "updated")
            }
        }
    };
    if context.json {
        context.print_json(&view)?;
    } else {
        println!(
            "pipeline {} {action} (id {}, version {})",
            view.spec.name, view.id, view.version
        );
        print_violations("warning", &view.compliance_warnings);
    }
    Ok(0)
}

fn stale_refusal(error: CliError, name: &str) -> CliError {
    match error.problem_code() {
        Some("precondition_failed") => CliError::Refused(format!(
            "pipeline {name} changed since it was read; nothing was overwritten. Read it again \
             (pb pipelines show) and apply once more\n  {error}"
        )),
        _ => error,
    }
}

/// The org's own pipeline of this name. Names are claimed per org, but a pipeline stored before
/// names were claimed holds no claim, so two may share one: that is refused, not guessed.
async fn own_pipeline_named(api: &Api, name: &str) -> Result<Option<PipelineSummary>, CliError> {
    let found: Vec<PipelineSummary> = api
        .list_all(&["api", "pipelines"], &[("name", name.to_string())])
        .await?;
    let mut own: Vec<PipelineSummary> = found
        .into_iter()
        .filter(|p| p.source == Source::Org && p.name == name)
        .collect();
    match own.len() {
        0 | 1 => Ok(own.pop()),
        _ => {
            Err(CliError::Refused(format!(
            "the org has {} pipelines named '{name}' ({}); rename or delete all but one before \
             applying",
            own.len(),
            own.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        )))
        }
    }
}

async fn validate(context: &Context, file: &Path) -> Result<u8, CliError> {
    let request = ValidateRequest {
        pipeline: Some(read_spec(file)?),
        ..ValidateRequest::default()
    };
    let answer: ValidateResponse = context
        .api()?
        .post(&["api", "compliance", "validate"], &request)
        .await?;
    if context.json {
        context.print_json(&answer)?;
    } else {
        print_violations("violation", &answer.violations);
        print_violations("warning", &answer.warnings);
        for exempted in &answer.exempted {
            println!(
                "exempted: rule '{}' (exemption {} until {})",
                exempted.rule_name, exempted.exemption_id, exempted.expires_at
            );
        }
        println!(
            "{}",
            if answer.compliant {
                "compliant"
            } else {
                "not compliant"
            }
        );
    }
    Ok(if answer.compliant { 0 } else { EXIT_REFUSED })
}

fn print_violations(label: &str, violations: &[Violation]) {
    for v in violations {
        println!(
            "{label}: rule '{}' ({:?}) on {}: {}",
            v.rule_name, v.severity, v.field, v.message
        );
    }
}

async fn list(context: &Context) -> Result<u8, CliError> {
    let pipelines: Vec<PipelineSummary> =
        context.api()?.list_all(&["api", "pipelines"], &[]).await?;
    if context.json {
        context.print_json(&pipelines)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = pipelines
        .iter()
        .map(|p| {
            cells(
                &json!(p),
                &["id", "name", "project", "version", "source", "updatedAt"],
            )
        })
        .collect();
    print!(
        "{}",
        table(
            &["id", "name", "project", "version", "source", "updated"],
            &rows
        )
    );
    Ok(0)
}

async fn show(context: &Context, id: &str) -> Result<u8, CliError> {
    let view: PipelineView = context.api()?.get(&["api", "pipelines", id], &[]).await?;
    if context.json {
        context.print_json(&view)?;
        return Ok(0);
    }
    println!(
        "# pipeline {} version {} ({:?}), updated {}",
        view.id, view.version, view.source, view.updated_at
    );
    for pin in &view.pinned {
        println!("# pinned: {}", json!(pin));
    }
    print!("{}", to_yaml(&json!(view.spec)));
    Ok(0)
}

async fn delete(context: &Context, id: &str, force: bool) -> Result<u8, CliError> {
    let query: Vec<(&str, String)> = if force {
        vec![("force", "true".to_string())]
    } else {
        vec![]
    };
    context
        .api()?
        .delete(&["api", "pipelines", id], &query)
        .await?;
    if context.json {
        context.print_json(&json!({ "deleted": id }))?;
    } else {
        println!("pipeline {id} deleted");
    }
    Ok(0)
}

async fn template(context: &Context, id: &str, yaml: bool) -> Result<u8, CliError> {
    let accept = if yaml && !context.json {
        "application/yaml"
    } else {
        "application/json"
    };
    let text = context
        .api()?
        .get_text(&["api", "pipelines", id, "template"], accept)
        .await?;
    println!("{}", text.trim_end());
    Ok(0)
}

/// Starts a deployment; with `wait`, reads it until it settles. A failed deployment exits 1
/// with its reason.
async fn deploy(
    context: &Context,
    id: &str,
    wait: bool,
    timeout: Duration,
) -> Result<u8, CliError> {
    let api = context.api()?;
    let mut deployment: DeploymentView = api
        .post(&["api", "pipelines", id, "deployments"], &json!({}))
        .await?;
    let started = Instant::now();
    while wait && !deployment.status.is_terminal() {
        if started.elapsed() >= timeout {
            end_progress();
            return Err(CliError::Refused(format!(
                "deployment {} still {} after {}s",
                deployment.id,
                status_name(deployment.status),
                timeout.as_secs()
            )));
        }
        progress(&format!(
            "deploying {id}: {} {}",
            status_name(deployment.status),
            deployment.stack_status.as_deref().unwrap_or_default()
        ));
        tokio::time::sleep(POLL_INTERVAL).await;
        deployment = api
            .get(
                &["api", "pipelines", id, "deployments", &deployment.id],
                &[],
            )
            .await?;
    }
    end_progress();
    if context.json {
        context.print_json(&deployment)?;
    } else {
        println!(
            "{}  {}  {}  {}  {}",
            deployment.id,
            status_name(deployment.status),
            deployment.action,
            deployment.stack_name,
            deployment.stack_status.as_deref().unwrap_or("-")
        );
        if let Some(reason) = &deployment.reason {
            println!("reason: {reason}");
        }
    }
    Ok(if deployment.status == DeploymentStatus::Failed {
        EXIT_REFUSED
    } else {
        0
    })
}

/// The status as the API spells it.
fn status_name(status: DeploymentStatus) -> String {
    crate::render::cell(&json!(status))
}
