//! The resources around the pipeline: the artifact bucket, IAM roles, CodeBuild projects and
//! their log groups. Every role carries the platform's permissions boundary, so nothing a
//! template creates can hold more than the boundary allows, whatever its own policy says.

use serde_json::{json, Map, Value};

use super::intrinsics::{attribute, literal, reference, regional_arn, sub};

pub const BOUNDARY_PARAMETER: &str = "PermissionsBoundaryArn";
pub const ARTIFACT_BUCKET: &str = "ArtifactBucket";

/// Logical id → resource, in a map so that the template's key order does not depend on the
/// order resources were added.
#[derive(Default)]
pub struct Resources(Map<String, Value>);

impl Resources {
    pub fn add(&mut self, logical_id: &str, resource: Value) {
        self.0.insert(logical_id.to_string(), resource);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

pub fn statement(actions: &[&str], resources: Vec<Value>) -> Value {
    json!({ "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// A role `service` may assume, with one inline policy of `statements`.
pub fn role(service: &str, statements: Vec<Value>) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": service },
                    "Action": "sts:AssumeRole",
                }],
            },
            "PermissionsBoundary": reference(BOUNDARY_PARAMETER),
            "Policies": [{
                "PolicyName": "least-privilege",
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
            }],
        },
    })
}

fn skips(reasons: &[(&str, &str)]) -> Value {
    let skip: Vec<Value> = reasons
        .iter()
        .map(|(id, comment)| json!({ "id": id, "comment": comment }))
        .collect();
    json!({ "checkov": { "skip": skip } })
}

/// Versioned, encrypted, private, TLS-only; objects expire after `expiry_days`. Retained when
/// the stack is deleted: CloudFormation cannot delete a bucket that still holds objects, and the
/// lifecycle empties it (its name is generated, so a new stack never collides with it).
pub fn artifact_bucket(resources: &mut Resources, expiry_days: u32) {
    resources.add(
        ARTIFACT_BUCKET,
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": skips(&[
                ("CKV_AWS_18", "Build artifacts only, written and read by this pipeline's own roles; CloudTrail records their API calls."),
            ]),
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{
                        "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" },
                    }],
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true,
                    "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true,
                    "RestrictPublicBuckets": true,
                },
                "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                "VersioningConfiguration": { "Status": "Enabled" },
                "LifecycleConfiguration": {
                    "Rules": [{
                        "Id": "expire-artifacts",
                        "Status": "Enabled",
                        "ExpirationInDays": expiry_days,
                        "NoncurrentVersionExpiration": { "NoncurrentDays": 1 },
                        "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 },
                    }],
                },
            },
        }),
    );
    resources.add(
        "ArtifactBucketPolicy",
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference(ARTIFACT_BUCKET),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket_arn(), bucket_objects_arn()],
                        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                    }],
                },
            },
        }),
    );
}

fn bucket_arn() -> Value {
    attribute(ARTIFACT_BUCKET, "Arn")
}

fn bucket_objects_arn() -> Value {
    sub(&format!("${{{ARTIFACT_BUCKET}.Arn}}/*"))
}

/// Reading and writing the pipeline's artifacts.
pub fn artifact_statements() -> Vec<Value> {
    vec![
        statement(
            &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            vec![bucket_objects_arn()],
        ),
        statement(
            &[
                "s3:GetBucketAcl",
                "s3:GetBucketLocation",
                "s3:GetBucketVersioning",
            ],
            vec![bucket_arn()],
        ),
    ]
}

/// `/aws/codebuild/{project}`: where CodeBuild writes a project's logs by default.
pub fn log_group_name(project: &str) -> String {
    format!("/aws/codebuild/{project}")
}

pub fn log_group(project: &str, retention_days: u32) -> Value {
    json!({
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Metadata": skips(&[
            ("CKV_AWS_158", "Encrypted by CloudWatch Logs' own key; build logs hold no secrets (CodeBuild masks Secrets Manager values)."),
        ]),
        "Properties": {
            "LogGroupName": log_group_name(project),
            "RetentionInDays": retention_days,
        },
    })
}

/// Writing log groups: `pattern` is the project name, or a project name prefix ending in `*`.
pub fn log_statement(pattern: &str) -> Value {
    statement(
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![regional_arn(
            "logs",
            &format!("log-group:{}:*", log_group_name(pattern)),
        )],
    )
}

/// Reading the named secrets: `-??????` is the random suffix Secrets Manager adds to a
/// secret's ARN, so the pattern matches exactly the secret of that name.
pub fn secrets_statement(names: &[&str]) -> Value {
    let arns = names
        .iter()
        .map(|name| regional_arn("secretsmanager", &literal(&format!("secret:{name}-??????"))))
        .collect();
    statement(&["secretsmanager:GetSecretValue"], arns)
}

/// What a CodeBuild project needs from its step.
pub struct Project<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub log_group: &'a str,
    pub image: &'a str,
    pub compute_type: &'static str,
    pub timeout_minutes: u32,
    pub buildspec: String,
}

pub fn project(project: &Project) -> Value {
    json!({
        "Type": "AWS::CodeBuild::Project",
        "Metadata": skips(&[
            ("CKV_AWS_147", "Artifacts are encrypted by the artifact bucket's SSE-S3 default encryption."),
        ]),
        "Properties": {
            "Name": project.name,
            "ServiceRole": attribute(project.role, "Arn"),
            "Source": { "Type": "CODEPIPELINE", "BuildSpec": project.buildspec },
            "Artifacts": { "Type": "CODEPIPELINE" },
            "Environment": {
                "Type": "LINUX_CONTAINER",
                "ComputeType": project.compute_type,
                "Image": project.image,
                "PrivilegedMode": false,
            },
            "TimeoutInMinutes": project.timeout_minutes,
            "LogsConfig": {
                "CloudWatchLogs": { "Status": "ENABLED", "GroupName": reference(project.log_group) },
            },
        },
    })
}
