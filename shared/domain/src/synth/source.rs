//! The source stage: where a run's code comes from, and what starts a run.
//!
//! GitHub goes through a CodeConnections connection with a V2 push trigger on the branch
//! (triggers exist only for connection sources). CodeCommit and S3 do not poll: an EventBridge
//! rule on the repository's branch, or on the object, starts the pipeline through a role that may
//! start only this pipeline — what the CodePipeline console creates for them.

use serde_json::{json, Value};

use crate::pipeline::SourceSpec;
use crate::plugin::FieldError;

use super::intrinsics::{attribute, literal, regional_arn, s3_arn, sub};
use super::resources::{role, statement, Resources};

pub const SOURCE_ARTIFACT: &str = "Source";
pub const SOURCE_ACTION: &str = "Source";
const PIPELINE: &str = "Pipeline";

/// What the source adds to the pipeline.
pub struct Source {
    pub action: Value,
    pub triggers: Vec<Value>,
    /// What the pipeline role needs to read the source.
    pub statements: Vec<Value>,
}

pub fn source(spec: &SourceSpec) -> Result<Source, FieldError> {
    match spec {
        SourceSpec::Github {
            repo,
            branch,
            connection_arn: Some(arn),
            ..
        } => Ok(github(repo, branch, arn)),
        SourceSpec::Github { .. } => Err(FieldError {
            field: "source.tokenSecret".into(),
            message: "a GitHub source with only a token needs CodePipeline's deprecated GitHub \
                      (version 1) action, which the platform does not synthesize: create a \
                      CodeConnections connection to GitHub and give its ARN as connectionArn"
                .into(),
        }),
        SourceSpec::Codecommit { repository, branch } => Ok(codecommit(repository, branch)),
        SourceSpec::S3 { bucket, key } => Ok(s3(bucket, key)),
    }
}

fn action(provider: &str, configuration: Value) -> Value {
    json!({
        "Name": SOURCE_ACTION,
        "ActionTypeId": { "Category": "Source", "Owner": "AWS", "Provider": provider, "Version": "1" },
        "Configuration": configuration,
        "OutputArtifacts": [{ "Name": SOURCE_ARTIFACT }],
        "RunOrder": 1,
    })
}

fn github(repo: &str, branch: &str, connection_arn: &str) -> Source {
    let service = if connection_arn.contains(":codestar-connections:") {
        "codestar-connections"
    } else {
        "codeconnections"
    };
    Source {
        action: action(
            "CodeStarSourceConnection",
            json!({
                "ConnectionArn": connection_arn,
                "FullRepositoryId": repo,
                "BranchName": branch,
                "OutputArtifactFormat": "CODE_ZIP",
            }),
        ),
        triggers: vec![json!({
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {
                "SourceActionName": SOURCE_ACTION,
                "Push": [{ "Branches": { "Includes": [branch] } }],
            },
        })],
        statements: vec![statement(
            &[&format!("{service}:UseConnection")],
            vec![json!(connection_arn)],
        )],
    }
}

fn codecommit(repository: &str, branch: &str) -> Source {
    Source {
        action: action(
            "CodeCommit",
            json!({
                "RepositoryName": repository,
                "BranchName": branch,
                "PollForSourceChanges": false,
                "OutputArtifactFormat": "CODE_ZIP",
            }),
        ),
        triggers: Vec::new(),
        statements: vec![statement(
            &[
                "codecommit:GetBranch",
                "codecommit:GetCommit",
                "codecommit:UploadArchive",
                "codecommit:GetUploadArchiveStatus",
                "codecommit:CancelUploadArchive",
            ],
            vec![repository_arn(repository)],
        )],
    }
}

fn repository_arn(repository: &str) -> Value {
    regional_arn("codecommit", &literal(repository))
}

fn s3(bucket: &str, key: &str) -> Source {
    Source {
        action: action(
            "S3",
            json!({ "S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": false }),
        ),
        triggers: Vec::new(),
        statements: vec![
            statement(
                &["s3:GetObject", "s3:GetObjectVersion"],
                vec![s3_arn(&literal(&format!("{bucket}/{key}")))],
            ),
            statement(&["s3:GetBucketVersioning"], vec![s3_arn(&literal(bucket))]),
        ],
    }
}

/// The EventBridge rule (and its role) that starts the pipeline on a change, for the sources
/// that have no trigger of their own.
pub fn change_detection(spec: &SourceSpec, resources: &mut Resources) {
    let pattern = match spec {
        SourceSpec::Github { .. } => return,
        SourceSpec::Codecommit { repository, branch } => json!({
            "source": ["aws.codecommit"],
            "detail-type": ["CodeCommit Repository State Change"],
            "resources": [repository_arn(repository)],
            "detail": {
                "event": ["referenceCreated", "referenceUpdated"],
                "referenceType": ["branch"],
                "referenceName": [branch],
            },
        }),
        SourceSpec::S3 { bucket, key } => json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": { "bucket": { "name": [bucket] }, "object": { "key": [key] } },
        }),
    };
    let pipeline_arn = regional_arn("codepipeline", &format!("${{{PIPELINE}}}"));
    resources.add(
        "SourceChangeRole",
        role(
            "events.amazonaws.com",
            vec![statement(
                &["codepipeline:StartPipelineExecution"],
                vec![pipeline_arn.clone()],
            )],
        ),
    );
    resources.add(
        "SourceChangeRule",
        json!({
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": sub(&format!("Starts ${{{PIPELINE}}} when its source changes")),
                "EventPattern": pattern,
                "State": "ENABLED",
                "Targets": [{
                    "Arn": pipeline_arn,
                    "Id": "pipeline",
                    "RoleArn": attribute("SourceChangeRole", "Arn"),
                }],
            },
        }),
    );
}
