//! scripts/deploy.py, the part of `make deploy` and `make token` that SAM CLI does not do: one
//! architecture for the build and the deployment, saved answers kept, the token's settings read
//! from the deployed stack.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pb_tests::emulator::{endpoint, sdk_config, unique_prefix, REGION};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the script with the dev venv's Python, which has boto3 (moto's dependency).
fn deploy_py(args: &[&str]) -> Output {
    let root = repository();
    Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/deploy.py"))
        .args(args)
        .output()
        .expect("the dev venv's python runs (make test creates it)")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_prefix(label));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `sam deploy --guided` writes: every answer in one string of Key="value" words.
const GUIDED_SAMCONFIG: &str = r#"version = 0.1
[default.global.parameters]
stack_name = "pipeline-builder"
[default.deploy.parameters]
stack_name = "pb-staging"
region = "eu-west-1"
parameter_overrides = "Architecture=\"arm64\" AlarmEmail=\"ops@example.com\" AuditSchedule=\"cron(0 3 * * ? *)\" DashboardOrigin=\"\""
"#;

#[test]
fn the_overrides_keep_the_guided_answers_and_take_the_built_architecture() {
    let dir = scratch_dir("overrides");
    let samconfig = dir.join("samconfig.toml");
    std::fs::write(&samconfig, GUIDED_SAMCONFIG).unwrap();
    let output = deploy_py(&["overrides", "x86_64", samconfig.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        r#"Architecture="x86_64" AlarmEmail="ops@example.com" AuditSchedule="cron(0 3 * * ? *)" DashboardOrigin="""#
    );
}

#[test]
fn without_saved_answers_the_overrides_are_the_architecture_alone() {
    let dir = scratch_dir("overrides-fresh");
    let output = deploy_py(&[
        "overrides",
        "arm64",
        dir.join("none.toml").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), r#"Architecture="arm64""#);
}

#[test]
fn an_unknown_architecture_is_refused() {
    let output = deploy_py(&["overrides", "aarch64"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("x86_64, arm64"),
        "{}",
        stderr(&output)
    );
}

/// The first 20 bytes of a little-endian 64-bit ELF executable for `machine` (e_machine).
fn elf_header(machine: u16) -> Vec<u8> {
    let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    header.extend([0; 8]);
    header.extend(2u16.to_le_bytes());
    header.extend(machine.to_le_bytes());
    header
}

fn build_dir_with(binaries: &[(&str, u16)]) -> PathBuf {
    let dir = scratch_dir("sam-build");
    for (function, machine) in binaries {
        std::fs::create_dir_all(dir.join(function)).unwrap();
        std::fs::write(dir.join(function).join("bootstrap"), elf_header(*machine)).unwrap();
    }
    dir
}

const X86_64: u16 = 0x3e;
const AARCH64: u16 = 0xb7;

#[test]
fn a_build_of_the_deployed_architecture_passes() {
    let dir = build_dir_with(&[("ApiFunction", AARCH64), ("IngestFunction", AARCH64)]);
    let output = deploy_py(&["check-build", "arm64", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 2);
}

#[test]
fn a_binary_of_the_other_architecture_stops_the_deployment() {
    let dir = build_dir_with(&[("ApiFunction", AARCH64), ("IngestFunction", X86_64)]);
    let output = deploy_py(&["check-build", "arm64", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("IngestFunction/bootstrap"), "{message}");
    assert!(!message.contains("ApiFunction"), "{message}");
}

#[test]
fn no_build_at_all_stops_the_deployment() {
    let dir = build_dir_with(&[]);
    let output = deploy_py(&["check-build", "x86_64", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("run sam build first"));
}

/// The outputs `make token` needs, as the backend stack exports them.
fn backend_stack_template(key_set_arn: &str) -> String {
    serde_json::json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "ApiKeySetSecretArn": {"Value": key_set_arn},
            "TokenIssuer": {"Value": "pb-issuer"},
            "TokenAudience": {"Value": "pb-audience"},
            "PlatformApiUrl": {"Value": "https://api.example.com"}
        }
    })
    .to_string()
}

#[tokio::test]
async fn the_token_settings_come_from_the_stack_samconfig_deploys() {
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk_config(&endpoint().unwrap()));
    let stack = unique_prefix("backend");
    let key_set_arn = format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:{stack}/keys");
    cloudformation
        .create_stack()
        .stack_name(&stack)
        .template_body(backend_stack_template(&key_set_arn))
        .send()
        .await
        .unwrap();
    let dir = scratch_dir("token");
    let samconfig = dir.join("samconfig.toml");
    std::fs::write(
        &samconfig,
        format!("version = 0.1\n[default.deploy.parameters]\nstack_name = \"{stack}\"\nregion = \"{REGION}\"\n"),
    )
    .unwrap();
    let output = deploy_py(&["token-env", samconfig.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).lines().collect::<Vec<_>>(),
        [
            format!("KEY_SET_SECRET_ID={key_set_arn}"),
            "TOKEN_ISSUER=pb-issuer".into(),
            "TOKEN_AUDIENCE=pb-audience".into(),
            format!("AWS_REGION={REGION}"),
        ]
    );
}

#[test]
fn the_token_needs_a_deployed_stack() {
    let dir = scratch_dir("token-undeployed");
    let output = deploy_py(&["token-env", dir.join("none.toml").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("deploy first"));
}
