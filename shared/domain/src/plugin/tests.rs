use super::*;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const INITECH: &str = "initech";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn build_spec(name: &str, version: &str) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        version: version.into(),
        description: "Builds a Rust workspace".into(),
        keywords: vec!["rust".into(), "build".into()],
        category: "build".into(),
        plugin_type: PluginType::CodeBuildStep,
        compute_type: ComputeType::Medium,
        image: Some("public.ecr.aws/docker/library/rust:1.85".into()),
        install_commands: vec!["rustup component add clippy".into()],
        commands: vec!["cargo build --release".into()],
        env: [("CARGO_TERM_COLOR".to_string(), "never".to_string())].into(),
        secrets: vec![SecretRef {
            name: "pipeline-builder/acme/crates-io".into(),
            required: true,
        }],
        timeout_minutes: 30,
        failure_behavior: FailureBehavior::Fail,
        primary_output_directory: Some("target/release".into()),
        required_metadata: vec!["crateName".into()],
        access_modifier: AccessModifier::Private,
        active: true,
    }
}

fn approval_spec() -> PluginSpec {
    PluginSpec {
        plugin_type: PluginType::ManualApprovalStep,
        image: None,
        install_commands: vec![],
        commands: vec![],
        env: Default::default(),
        secrets: vec![],
        primary_output_directory: None,
        ..build_spec("prod-approval", "1.0.0")
    }
}

fn errors_of(spec: &PluginSpec) -> Vec<FieldError> {
    validate(spec).err().unwrap_or_default()
}

fn fields_of(spec: &PluginSpec) -> Vec<String> {
    errors_of(spec)
        .into_iter()
        .map(|error| error.field)
        .collect()
}

fn entry(org: &str, name: &str, version: &str, access: AccessModifier) -> CatalogEntry {
    CatalogEntry {
        org: org.into(),
        spec: PluginSpec {
            access_modifier: access,
            ..build_spec(name, version)
        },
    }
}

fn own(name: &str, version: &str) -> CatalogEntry {
    entry(ACME, name, version, AccessModifier::Private)
}

fn public(org: &str, name: &str, version: &str) -> CatalogEntry {
    entry(org, name, version, AccessModifier::Public)
}

fn inactive(mut entry: CatalogEntry) -> CatalogEntry {
    entry.spec.active = false;
    entry
}

fn reference(name: &str, range: &str) -> PluginRef {
    PluginRef::parse(name, range).expect("test range is valid")
}

/// `org/version` of the resolution, or the error.
fn lookup(name: &str, range: &str, catalog: &[CatalogEntry]) -> Result<String, LookupError> {
    resolve(&reference(name, range), ACME, catalog)
        .map(|found| format!("{}/{}", found.entry.org, found.version))
}

fn version(text: &str) -> semver::Version {
    semver::Version::parse(text).expect("test version is valid")
}

mod spec_json {
    use super::*;

    #[test]
    fn full_spec_reads_with_camel_case_fields_and_enum_spellings() {
        let json = r#"{
            "name": "node-build", "version": "2.1.0", "description": "Node build",
            "keywords": ["node"], "category": "build", "pluginType": "ShellStep",
            "computeType": "X2_LARGE", "image": "node:20", "installCommands": ["npm ci"],
            "commands": ["npm run build"], "env": {"CI": "true"},
            "secrets": [{"name": "acme/npm", "required": false}], "timeoutMinutes": 20,
            "failureBehavior": "warn", "primaryOutputDirectory": "dist",
            "requiredMetadata": ["packageName"], "accessModifier": "public", "active": false
        }"#;
        let spec: PluginSpec = serde_json::from_str(json).expect("valid spec");
        assert_eq!(spec.plugin_type, PluginType::ShellStep);
        assert_eq!(spec.compute_type, ComputeType::X2Large);
        assert_eq!(spec.failure_behavior, FailureBehavior::Warn);
        assert_eq!(spec.access_modifier, AccessModifier::Public);
        assert!(!spec.active);
        assert!(!spec.secrets[0].required);
        assert_eq!(spec.timeout_minutes, 20);
        assert_eq!(validate(&spec), Ok(()));
    }

    /// OpenAPI 3.1 calls `20.0` an integer, so the spec takes it; a fraction stays refused.
    #[test]
    fn timeout_minutes_takes_a_whole_float_and_refuses_a_fraction() {
        let spec = |timeout: &str| {
            serde_json::from_str::<PluginSpec>(&format!(
                r#"{{"name": "x", "version": "1.0.0", "category": "c",
                    "pluginType": "ManualApprovalStep", "timeoutMinutes": {timeout}}}"#
            ))
        };
        assert_eq!(spec("20.0").unwrap().timeout_minutes, 20);
        let refused = spec("20.5").unwrap_err().to_string();
        assert!(refused.contains("20.5 is not a whole number"), "{refused}");
        assert!(spec("-20").is_err());
    }

    #[test]
    fn omitted_fields_take_safe_defaults() {
        let json = r#"{"name": "approve", "version": "1.0.0", "category": "approval",
                       "pluginType": "ManualApprovalStep"}"#;
        let spec: PluginSpec = serde_json::from_str(json).expect("valid spec");
        assert_eq!(spec.access_modifier, AccessModifier::Private);
        assert_eq!(spec.failure_behavior, FailureBehavior::Fail);
        assert_eq!(spec.compute_type, ComputeType::Small);
        assert_eq!(spec.timeout_minutes, 60);
        assert!(spec.active);
        assert_eq!(validate(&spec), Ok(()));
    }

    #[test]
    fn secrets_are_required_unless_said_otherwise() {
        let secret: SecretRef = serde_json::from_str(r#"{"name": "acme/npm"}"#).expect("valid");
        assert!(secret.required);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = r#"{"name": "x", "version": "1.0.0", "category": "c",
                       "pluginType": "ShellStep", "timeout": 30}"#;
        let error = serde_json::from_str::<PluginSpec>(json).expect_err("unknown field");
        assert!(error.to_string().contains("timeout"), "{error}");
    }

    #[test]
    fn unknown_enum_values_are_rejected() {
        let json = r#"{"name": "x", "version": "1.0.0", "category": "c",
                       "pluginType": "ShellStep", "computeType": "XLARGE"}"#;
        assert!(serde_json::from_str::<PluginSpec>(json).is_err());
    }

    #[test]
    fn serialising_round_trips_with_the_wire_spellings() {
        let spec = PluginSpec {
            compute_type: ComputeType::X2Large,
            ..build_spec("rust-build", "1.0.0")
        };
        let json = serde_json::to_value(&spec).expect("serialises");
        assert_eq!(json["computeType"], "X2_LARGE");
        assert_eq!(json["pluginType"], "CodeBuildStep");
        assert_eq!(json["accessModifier"], "private");
        assert_eq!(json["primaryOutputDirectory"], "target/release");
        let back: PluginSpec = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, spec);
    }
}

mod validation {
    use super::*;

    #[test]
    fn valid_build_and_approval_specs_pass() {
        assert_eq!(validate(&build_spec("rust-build", "1.2.3")), Ok(()));
        assert_eq!(validate(&build_spec("rust-build", "2.0.0-rc.1")), Ok(()));
        assert_eq!(validate(&approval_spec()), Ok(()));
    }

    #[test]
    fn collects_every_problem_with_its_json_path() {
        let mut spec = build_spec("Rust_Build", "1.2");
        spec.timeout_minutes = 4;
        spec.secrets.push(SecretRef {
            name: "has space".into(),
            required: true,
        });
        spec.env.insert("DB_PASSWORD".into(), "hunter2".into());
        spec.commands.push("   ".into());
        let errors = errors_of(&spec);
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "version",
                "commands[1]",
                "env.DB_PASSWORD",
                "secrets[1].name",
                "timeoutMinutes"
            ]
        );
        let password = &errors[3];
        assert!(password.message.contains("`secrets`"), "{password}");
        assert_eq!(
            password.to_string(),
            format!("env.DB_PASSWORD: {}", password.message)
        );
    }

    #[test]
    fn name_is_lowercase_letters_digits_and_hyphens_up_to_64() {
        for good in ["a", "node-20", &"x".repeat(64)] {
            assert_eq!(validate(&build_spec(good, "1.0.0")), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Node",
            "node_build",
            "node build",
            "nöde",
            &"x".repeat(65),
        ] {
            assert_eq!(fields_of(&build_spec(bad, "1.0.0")), ["name"], "{bad:?}");
        }
    }

    #[test]
    fn version_must_be_semver_without_build_metadata() {
        for bad in ["1", "1.2", "v1.2.3", "1.2.3.4", "latest", "1.2.3+build.5"] {
            assert_eq!(fields_of(&build_spec("x", bad)), ["version"], "{bad}");
        }
    }

    /// The pattern the API document states for versions matches exactly what publishing accepts.
    #[test]
    fn the_documented_version_pattern_agrees_with_validation() {
        let pattern = regex::Regex::new(VERSION_PATTERN).unwrap();
        let past_u64 = (u128::from(u64::MAX) + 1).to_string();
        let cases = [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.2.3-rc.1",
            "1.2.3-0a.00b-c.0",
            "1.0.0-alpha-1.x-y",
            "9999999999999999999.0.0",
            "01.2.3",
            "1.2.03",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3+build",
            "1.2",
            "v1.2.3",
            "",
            &format!("{past_u64}.0.0"),
        ];
        for version in cases {
            let accepted = !fields_of(&build_spec("x", version)).contains(&"version".to_string());
            assert_eq!(pattern.is_match(version), accepted, "{version}");
        }
    }

    /// The documented image and output-directory patterns only admit what publishing accepts.
    #[test]
    fn the_documented_image_and_directory_patterns_agree_with_validation() {
        let image = regex::Regex::new(IMAGE_PATTERN).unwrap();
        let images = [
            "node:20".to_string(),
            "public.ecr.aws/docker/library/node:20-slim".to_string(),
            "localhost:5000/team/tool:1.2".to_string(),
            format!("rust@{DIGEST}"),
            format!("rust:1.85@{DIGEST}"),
            "node".to_string(),
            "Node:20".to_string(),
            "node:".to_string(),
            "node:-x".to_string(),
            "node :20".to_string(),
            "rust@sha256:abc".to_string(),
            "a//b:1".to_string(),
        ];
        for reference in images {
            let spec = PluginSpec {
                image: Some(reference.clone()),
                ..build_spec("x", "1.0.0")
            };
            let accepted = !fields_of(&spec).contains(&"image".to_string());
            assert_eq!(image.is_match(&reference), accepted, "{reference}");
        }
        let directory = regex::Regex::new(OUTPUT_DIRECTORY_PATTERN).unwrap();
        let accepted = ["dist", "build/out", ".next", "a-b_c.d/e"];
        let refused = [
            "/abs", "../up", "a/../b", "c:/x", "a\\b", "", " ", "..", "a\n",
        ];
        for path in accepted.iter().chain(&refused) {
            let spec = PluginSpec {
                primary_output_directory: Some(path.to_string()),
                ..build_spec("x", "1.0.0")
            };
            let valid = !fields_of(&spec).contains(&"primaryOutputDirectory".to_string());
            assert!(
                !directory.is_match(path) || valid,
                "{path:?} documented but refused"
            );
            assert_eq!(
                directory.is_match(path),
                accepted.contains(path),
                "{path:?}"
            );
        }
    }

    #[test]
    fn image_accepts_tags_and_digests() {
        let good = [
            "node:20".to_string(),
            "node:latest".to_string(),
            "public.ecr.aws/docker/library/node:20-slim".to_string(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/build/rust:1.85".to_string(),
            "localhost:5000/team/tool:1.2".to_string(),
            format!("rust@{DIGEST}"),
            format!("rust:1.85@{DIGEST}"),
            format!("localhost:5000/rust@{DIGEST}"),
        ];
        for image in good {
            let spec = PluginSpec {
                image: Some(image.clone()),
                ..build_spec("x", "1.0.0")
            };
            assert_eq!(validate(&spec), Ok(()), "{image}");
        }
    }

    #[test]
    fn image_rejects_untagged_malformed_and_spaced_references() {
        let bad = [
            "node",
            "node:",
            "Node:20",
            "node :20",
            "node:20 ",
            "localhost:5000/team/tool",
            "node@sha256:abc",
            "node@md5:0123456789abcdef0123456789abcdef",
            "node:-bad",
            "/node:20",
        ];
        for image in bad {
            let spec = PluginSpec {
                image: Some(image.into()),
                ..build_spec("x", "1.0.0")
            };
            assert_eq!(fields_of(&spec), ["image"], "{image:?}");
        }
    }

    #[test]
    fn timeout_is_between_5_and_480_minutes() {
        for (minutes, ok) in [(0, false), (4, false), (5, true), (480, true), (481, false)] {
            let spec = PluginSpec {
                timeout_minutes: minutes,
                ..build_spec("x", "1.0.0")
            };
            assert_eq!(validate(&spec).is_ok(), ok, "{minutes}");
        }
    }

    #[test]
    fn command_lists_are_capped_in_count_and_size() {
        let mut spec = build_spec("x", "1.0.0");
        spec.commands = vec!["make".into(); 51];
        spec.install_commands = vec!["x".repeat(4097), "x".repeat(4096)];
        assert_eq!(fields_of(&spec), ["installCommands[0]", "commands"]);
    }

    #[test]
    fn text_fields_and_lists_are_capped() {
        let mut spec = build_spec("x", "1.0.0");
        spec.description = "d".repeat(1025);
        spec.keywords = vec!["k".into(); 21];
        spec.keywords[3] = " ".into();
        spec.category = String::new();
        spec.required_metadata = vec!["9lives".into()];
        assert_eq!(
            fields_of(&spec),
            [
                "description",
                "keywords",
                "keywords[3]",
                "category",
                "requiredMetadata[0]"
            ]
        );
    }

    #[test]
    fn env_is_capped_and_names_must_be_shell_variables() {
        let mut spec = build_spec("x", "1.0.0");
        spec.env = (0..51)
            .map(|i| (format!("V{i}"), "1".to_string()))
            .collect();
        spec.env.insert("1ABC".into(), "1".into());
        spec.env.insert("A-B".into(), "1".into());
        assert_eq!(fields_of(&spec), ["env", "env.1ABC", "env.A-B"]);
    }

    #[test]
    fn credential_named_env_vars_must_not_hold_literals() {
        for key in [
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "dbpasswd",
            "CLIENT_SECRET",
            "NPM_API_KEY",
        ] {
            let mut spec = build_spec("x", "1.0.0");
            spec.env.insert(key.into(), "s3cr3t".into());
            let errors = errors_of(&spec);
            assert_eq!(errors.len(), 1, "{key}");
            assert_eq!(errors[0].field, format!("env.{key}"));
            assert!(errors[0].message.contains("`secrets`"));
        }
    }

    #[test]
    fn credential_named_env_vars_may_forward_a_variable_or_stay_empty() {
        let mut spec = build_spec("x", "1.0.0");
        spec.env.insert("GITHUB_TOKEN".into(), "$GH_TOKEN".into());
        spec.env
            .insert("NPM_TOKEN".into(), "${NPM_TOKEN_FROM_SECRET}".into());
        spec.env.insert("SECRET_HINT".into(), String::new());
        spec.env.insert("PWD_SUFFIX".into(), "/tmp".into());
        assert_eq!(validate(&spec), Ok(()));
    }

    #[test]
    fn env_values_that_look_like_credentials_are_rejected_whatever_the_name() {
        let values = [
            "AKIAIOSFODNN7EXAMPLE",
            "https://user:pa55@git.example.com/repo.git",
            "-----BEGIN RSA PRIVATE KEY-----",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ];
        for value in values {
            let mut spec = build_spec("x", "1.0.0");
            spec.env.insert("REPO".into(), value.into());
            assert_eq!(fields_of(&spec), ["env.REPO"], "{value}");
        }
    }

    #[test]
    fn secrets_must_be_unique_secrets_manager_names() {
        let mut spec = build_spec("x", "1.0.0");
        let secret = |name: &str| SecretRef {
            name: name.into(),
            required: true,
        };
        spec.secrets = vec![
            secret("acme/npm+token=ok.@-_"),
            secret(""),
            secret("acme/npm+token=ok.@-_"),
            secret("AKIAIOSFODNN7EXAMPLE"),
            secret(&"s".repeat(513)),
        ];
        assert_eq!(
            fields_of(&spec),
            [
                "secrets[1].name",
                "secrets[2].name",
                "secrets[3].name",
                "secrets[4].name"
            ]
        );
        spec.secrets = vec![secret("s"); 21];
        assert!(fields_of(&spec).contains(&"secrets".to_string()));
    }

    #[test]
    fn output_directory_stays_inside_the_build() {
        for (directory, ok) in [
            ("dist", true),
            ("target/release", true),
            ("./out", true),
            ("../out", false),
            ("a/../../b", false),
            ("/abs", false),
            ("C:\\out", false),
            ("", false),
        ] {
            let spec = PluginSpec {
                primary_output_directory: Some(directory.into()),
                ..build_spec("x", "1.0.0")
            };
            assert_eq!(validate(&spec).is_ok(), ok, "{directory:?}");
        }
    }

    #[test]
    fn build_steps_need_an_image_and_a_command() {
        for plugin_type in [PluginType::CodeBuildStep, PluginType::ShellStep] {
            let spec = PluginSpec {
                plugin_type,
                image: None,
                commands: vec![],
                ..build_spec("x", "1.0.0")
            };
            assert_eq!(fields_of(&spec), ["image", "commands"], "{plugin_type:?}");
        }
    }

    #[test]
    fn approval_steps_carry_nothing_that_runs() {
        let spec = PluginSpec {
            plugin_type: PluginType::ManualApprovalStep,
            ..build_spec("approve", "1.0.0")
        };
        assert_eq!(
            fields_of(&spec),
            [
                "image",
                "installCommands",
                "commands",
                "env",
                "secrets",
                "primaryOutputDirectory"
            ]
        );
    }
}

mod ranges {
    use super::*;

    fn accepts(range: &str, versions: &[&str]) -> Vec<bool> {
        let range = VersionRange::parse(range).expect("valid range");
        versions
            .iter()
            .map(|v| range.matches(&version(v)))
            .collect()
    }

    /// Every range the API document's pattern admits parses.
    #[test]
    fn the_documented_range_pattern_admits_only_parsable_ranges() {
        let pattern = regex::Regex::new(VERSION_RANGE_PATTERN).unwrap();
        let documented = [
            "latest", "*", "1", "1.2", "1.2.3", "^1.2", "~1.2.3", ">=1", "<2.0", "=0.0.0",
        ];
        for range in documented {
            assert!(pattern.is_match(range), "{range}");
            assert!(VersionRange::parse(range).is_ok(), "{range}");
        }
        for undocumented in ["", "1e+100", "01.2", "^", "1.2.3.4", "latest ", ">=1 <2"] {
            assert!(!pattern.is_match(undocumented), "{undocumented}");
        }
    }

    #[test]
    fn bare_full_version_is_an_exact_pin() {
        assert_eq!(
            accepts("1.2.3", &["1.2.3", "1.2.4", "1.3.0", "1.2.3-rc.1"]),
            [true, false, false, false]
        );
    }

    #[test]
    fn bare_partial_version_is_a_prefix() {
        assert_eq!(
            accepts("1.2", &["1.2.0", "1.2.9", "1.3.0"]),
            [true, true, false]
        );
    }

    #[test]
    fn caret_allows_compatible_updates() {
        assert_eq!(
            accepts("^1.2", &["1.1.9", "1.2.0", "1.9.9", "2.0.0"]),
            [false, true, true, false]
        );
        assert_eq!(
            accepts("^0.2.3", &["0.2.3", "0.2.9", "0.3.0"]),
            [true, true, false]
        );
    }

    #[test]
    fn tilde_allows_patch_updates() {
        assert_eq!(
            accepts("~1.2.3", &["1.2.2", "1.2.3", "1.2.9", "1.3.0"]),
            [false, true, true, false]
        );
    }

    #[test]
    fn space_or_comma_separated_comparators_all_apply() {
        for range in [">=1 <2", ">=1, <2", ">= 1 < 2", " >=1   <2 "] {
            assert_eq!(
                accepts(range, &["0.9.9", "1.0.0", "1.9.9", "2.0.0"]),
                [false, true, true, false],
                "{range}"
            );
        }
    }

    #[test]
    fn star_and_latest_accept_every_release_but_no_prerelease() {
        for range in ["*", "latest"] {
            assert_eq!(
                accepts(range, &["0.0.1", "7.3.1", "2.0.0-rc.1"]),
                [true, true, false],
                "{range}"
            );
        }
        assert!(VersionRange::parse("latest").expect("valid").is_latest());
    }

    #[test]
    fn prereleases_only_when_the_range_names_one_of_the_same_release() {
        assert_eq!(
            accepts(
                ">=1.3.0-beta.1",
                &[
                    "1.3.0-alpha",
                    "1.3.0-beta.2",
                    "1.3.0",
                    "1.4.0-beta.1",
                    "1.4.0"
                ]
            ),
            [false, true, true, false, true]
        );
        assert_eq!(
            accepts("1.3.0-beta.1", &["1.3.0-beta.1", "1.3.0-beta.2"]),
            [true, false]
        );
    }

    #[test]
    fn malformed_ranges_are_invalid_with_their_text() {
        for text in [
            "", "  ", "abc", "1 - 2", "^1 || ^2", ">=", ">= <2", "v1.2.3", "1.2.3.4", "Latest",
        ] {
            match VersionRange::parse(text) {
                Err(LookupError::InvalidRange { range, reason }) => {
                    assert_eq!(range, text);
                    assert!(!reason.is_empty());
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let too_long = format!(">=1.0.0{}", " <9.0.0".repeat(30));
        assert!(VersionRange::parse(&too_long).is_err());
    }

    #[test]
    fn reference_reads_and_writes_name_and_version() {
        let parsed: PluginRef =
            serde_json::from_str(r#"{"name": "node-build", "version": "^2"}"#).expect("valid");
        assert_eq!(parsed, reference("node-build", "^2"));
        assert_eq!(parsed.to_string(), "node-build@^2");
        let json = serde_json::to_value(&parsed).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"name": "node-build", "version": "^2"})
        );
    }

    #[test]
    fn reference_with_a_bad_range_fails_to_read() {
        let error = serde_json::from_str::<PluginRef>(r#"{"name": "n", "version": "1 - 2"}"#)
            .expect_err("invalid range");
        assert!(
            error.to_string().contains("invalid version range"),
            "{error}"
        );
    }
}

mod resolution {
    use super::*;

    #[test]
    fn name_must_match_exactly_never_as_substring() {
        let catalog = [own("nodejs-build", "1.0.0"), own("my-nodejs", "1.0.0")];
        assert_eq!(
            lookup("nodejs", "*", &catalog),
            Err(LookupError::NotFound {
                name: "nodejs".into(),
                range: "*".into()
            })
        );
        let catalog = [own("nodejs-build", "9.0.0"), own("nodejs", "1.0.0")];
        let found = resolve(&reference("nodejs", "*"), ACME, &catalog).expect("found");
        assert_eq!(found.entry.spec.name, "nodejs");
    }

    #[test]
    fn name_match_is_case_sensitive() {
        let catalog = [own("nodejs", "1.0.0")];
        assert!(lookup("NodeJS", "*", &catalog).is_err());
    }

    #[test]
    fn highest_matching_version_wins_whatever_the_catalog_order() {
        let mut catalog = vec![
            own("lint", "1.2.0"),
            own("lint", "1.10.0"),
            own("lint", "1.9.3"),
            own("lint", "2.0.0"),
        ];
        assert_eq!(lookup("lint", "^1", &catalog), Ok("acme/1.10.0".into()));
        catalog.reverse();
        assert_eq!(lookup("lint", "^1", &catalog), Ok("acme/1.10.0".into()));
        assert_eq!(lookup("lint", "latest", &catalog), Ok("acme/2.0.0".into()));
        assert_eq!(lookup("lint", "1.9.3", &catalog), Ok("acme/1.9.3".into()));
        assert_eq!(lookup("lint", "~1.2.0", &catalog), Ok("acme/1.2.0".into()));
        assert_eq!(lookup("lint", ">=1 <2", &catalog), Ok("acme/1.10.0".into()));
    }

    #[test]
    fn own_org_beats_public_even_when_public_is_higher() {
        let catalog = [public(GLOBEX, "lint", "1.9.0"), own("lint", "1.1.0")];
        let found = resolve(&reference("lint", "^1"), ACME, &catalog).expect("found");
        assert_eq!(found.entry.org, ACME);
        assert_eq!(found.version, version("1.1.0"));
        assert_eq!(found.from, ResolvedFrom::CallerOrg);
    }

    #[test]
    fn public_is_used_when_no_own_version_matches_the_range() {
        let catalog = [own("lint", "1.1.0"), public(GLOBEX, "lint", "2.3.0")];
        let found = resolve(&reference("lint", "^2"), ACME, &catalog).expect("found");
        assert_eq!(found.entry.org, GLOBEX);
        assert_eq!(found.from, ResolvedFrom::PublicCatalog);
    }

    #[test]
    fn own_public_plugin_counts_as_own() {
        let catalog = [
            public(ACME, "lint", "1.0.0"),
            public(GLOBEX, "lint", "3.0.0"),
        ];
        let found = resolve(&reference("lint", "*"), ACME, &catalog).expect("found");
        assert_eq!(found.from, ResolvedFrom::CallerOrg);
        assert_eq!(found.version, version("1.0.0"));
    }

    #[test]
    fn equal_public_versions_go_to_the_smallest_org_id() {
        let mut catalog = vec![
            public(INITECH, "lint", "1.0.0"),
            public(GLOBEX, "lint", "1.0.0"),
        ];
        assert_eq!(lookup("lint", "*", &catalog), Ok("globex/1.0.0".into()));
        catalog.reverse();
        assert_eq!(lookup("lint", "*", &catalog), Ok("globex/1.0.0".into()));
    }

    #[test]
    fn another_orgs_private_plugin_is_invisible() {
        let hidden = entry(GLOBEX, "lint", "5.0.0", AccessModifier::Private);
        assert!(matches!(
            lookup("lint", "*", std::slice::from_ref(&hidden)),
            Err(LookupError::NotFound { .. })
        ));
        let catalog = [hidden, public(INITECH, "lint", "0.9.0")];
        assert_eq!(lookup("lint", "*", &catalog), Ok("initech/0.9.0".into()));
    }

    #[test]
    fn prereleases_are_picked_only_when_asked_for() {
        let catalog = [own("lint", "1.2.0"), own("lint", "1.3.0-beta.1")];
        for range in ["^1", "*", "latest", ">=1.2", "~1.3"] {
            assert_eq!(
                lookup("lint", range, &catalog).ok().as_deref(),
                Some("acme/1.2.0").filter(|_| range != "~1.3"),
                "{range}"
            );
        }
        assert_eq!(
            lookup("lint", "^1.3.0-beta.1", &catalog),
            Ok("acme/1.3.0-beta.1".into())
        );
        assert_eq!(
            lookup("lint", "1.3.0-beta.1", &catalog),
            Ok("acme/1.3.0-beta.1".into())
        );
    }

    #[test]
    fn inactive_versions_are_skipped() {
        let catalog = [own("lint", "1.2.0"), inactive(own("lint", "1.3.0"))];
        assert_eq!(lookup("lint", "^1", &catalog), Ok("acme/1.2.0".into()));
        assert!(lookup("lint", "1.3.0", &catalog).is_err());
    }

    #[test]
    fn inactive_own_versions_do_not_shadow_public_ones() {
        let catalog = [
            inactive(own("lint", "1.0.0")),
            public(GLOBEX, "lint", "1.0.0"),
        ];
        assert_eq!(lookup("lint", "1.0.0", &catalog), Ok("globex/1.0.0".into()));
    }

    #[test]
    fn unparseable_catalog_versions_are_never_chosen() {
        let catalog = [own("lint", "not-a-version"), own("lint", "1.0.0")];
        assert_eq!(lookup("lint", "*", &catalog), Ok("acme/1.0.0".into()));
    }

    #[test]
    fn errors_are_distinguishable_and_explain_themselves() {
        let not_found = lookup("lint", "^3", &[own("lint", "1.0.0")]).expect_err("no match");
        assert_eq!(not_found.code(), "plugin_not_found");
        assert_eq!(
            not_found.to_string(),
            "no active version of plugin 'lint' visible to this org matches '^3'"
        );
        let invalid = PluginRef::parse("lint", "^x").expect_err("bad range");
        assert_eq!(invalid.code(), "invalid_range");
        assert!(invalid
            .to_string()
            .starts_with("invalid version range '^x'"));
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    const NAME: &str = "lint";
    const ORGS: [&str; 3] = [ACME, GLOBEX, INITECH];

    fn version_text() -> impl Strategy<Value = String> {
        (
            0u64..3,
            0u64..4,
            0u64..4,
            prop::option::weighted(0.3, prop::sample::select(vec!["alpha.1", "beta", "rc.1"])),
        )
            .prop_map(|(major, minor, patch, pre)| match pre {
                Some(pre) => format!("{major}.{minor}.{patch}-{pre}"),
                None => format!("{major}.{minor}.{patch}"),
            })
    }

    fn catalog_entry() -> impl Strategy<Value = CatalogEntry> {
        (
            prop::sample::select(ORGS.to_vec()),
            prop::sample::select(vec![NAME, "lint-extra", "Lint"]),
            version_text(),
            any::<bool>(),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(org, name, version, is_public, active)| {
                let access = if is_public {
                    AccessModifier::Public
                } else {
                    AccessModifier::Private
                };
                let mut found = entry(org, name, &version, access);
                found.spec.active = active;
                found
            })
    }

    fn range_text() -> impl Strategy<Value = String> {
        (version_text(), 0usize..8, 0u64..3).prop_map(|(version, form, major)| match form {
            0 => version,
            1 => format!("^{version}"),
            2 => format!("~{version}"),
            3 => format!(">={version} <{}", major + 1),
            4 => format!("^{major}"),
            5 => "*".into(),
            6 => "latest".into(),
            _ => format!(">={version}"),
        })
    }

    fn eligible(entry: &CatalogEntry, range: &VersionRange) -> Option<semver::Version> {
        let visible = entry.org == ACME || entry.spec.access_modifier == AccessModifier::Public;
        let parsed = version(&entry.spec.version);
        (entry.spec.name == NAME && entry.spec.active && visible && range.matches(&parsed))
            .then_some(parsed)
    }

    /// Releases only, so the reference is plain tuple arithmetic independent of the semver crate.
    #[derive(Debug, Clone, Copy)]
    enum ReferenceRange {
        Exact(u64, u64, u64),
        Caret(u64, u64, u64),
        Tilde(u64, u64, u64),
        Between(u64, u64),
        Star,
        Latest,
    }

    type Triple = (u64, u64, u64);

    impl ReferenceRange {
        fn text(self) -> String {
            match self {
                Self::Exact(a, b, c) => format!("{a}.{b}.{c}"),
                Self::Caret(a, b, c) => format!("^{a}.{b}.{c}"),
                Self::Tilde(a, b, c) => format!("~{a}.{b}.{c}"),
                Self::Between(low, high) => format!(">={low} <{high}"),
                Self::Star => "*".into(),
                Self::Latest => "latest".into(),
            }
        }

        fn accepts(self, v: Triple) -> bool {
            match self {
                Self::Exact(a, b, c) => v == (a, b, c),
                Self::Caret(a, b, c) if a > 0 => v.0 == a && v >= (a, b, c),
                Self::Caret(0, b, c) if b > 0 => v.0 == 0 && v.1 == b && v.2 >= c,
                Self::Caret(a, b, c) => v == (a, b, c),
                Self::Tilde(a, b, c) => v.0 == a && v.1 == b && v.2 >= c,
                Self::Between(low, high) => v >= (low, 0, 0) && v < (high, 0, 0),
                Self::Star | Self::Latest => true,
            }
        }
    }

    fn reference_range() -> impl Strategy<Value = ReferenceRange> {
        let triple = || (0u64..3, 0u64..4, 0u64..4);
        prop_oneof![
            triple().prop_map(|(a, b, c)| ReferenceRange::Exact(a, b, c)),
            triple().prop_map(|(a, b, c)| ReferenceRange::Caret(a, b, c)),
            triple().prop_map(|(a, b, c)| ReferenceRange::Tilde(a, b, c)),
            (0u64..3, 0u64..4).prop_map(|(low, high)| ReferenceRange::Between(low, high)),
            Just(ReferenceRange::Star),
            Just(ReferenceRange::Latest),
        ]
    }

    fn release_entry() -> impl Strategy<Value = (CatalogEntry, Triple)> {
        (
            prop::sample::select(ORGS.to_vec()),
            (0u64..3, 0u64..4, 0u64..4),
            any::<bool>(),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(org, triple, is_public, active)| {
                let access = if is_public {
                    AccessModifier::Public
                } else {
                    AccessModifier::Private
                };
                let text = format!("{}.{}.{}", triple.0, triple.1, triple.2);
                let mut found = entry(org, NAME, &text, access);
                found.spec.active = active;
                (found, triple)
            })
    }

    proptest! {
        #[test]
        fn resolved_version_satisfies_the_range_and_nothing_eligible_beats_it(
            catalog in prop::collection::vec(catalog_entry(), 0..24),
            range in range_text(),
        ) {
            let wanted = reference(NAME, &range);
            let own_best = catalog.iter()
                .filter(|entry| entry.org == ACME)
                .filter_map(|entry| eligible(entry, &wanted.range))
                .max();
            let public_best = catalog.iter()
                .filter(|entry| entry.org != ACME)
                .filter_map(|entry| eligible(entry, &wanted.range))
                .max();
            match resolve(&wanted, ACME, &catalog) {
                Ok(found) => {
                    prop_assert_eq!(found.entry.spec.name.as_str(), NAME);
                    prop_assert!(found.entry.spec.active);
                    prop_assert!(wanted.range.matches(&found.version));
                    prop_assert!(eligible(found.entry, &wanted.range).is_some());
                    match found.from {
                        ResolvedFrom::CallerOrg => {
                            prop_assert_eq!(found.entry.org.as_str(), ACME);
                            prop_assert_eq!(Some(found.version), own_best);
                        }
                        ResolvedFrom::PublicCatalog => {
                            prop_assert!(own_best.is_none());
                            prop_assert_eq!(Some(found.version), public_best);
                        }
                    }
                }
                Err(error) => {
                    prop_assert!(
                        matches!(error, LookupError::NotFound { .. }),
                        "unexpected {:?}", error
                    );
                    prop_assert!(own_best.is_none() && public_best.is_none());
                }
            }
        }

        #[test]
        fn resolution_agrees_with_a_reference_ordering_of_releases(
            catalog in prop::collection::vec(release_entry(), 0..24),
            range in reference_range(),
        ) {
            let visible = |entry: &CatalogEntry| {
                entry.spec.active
                    && (entry.org == ACME || entry.spec.access_modifier == AccessModifier::Public)
            };
            let best_where = |own_org: bool| {
                catalog.iter()
                    .filter(|(entry, triple)| {
                        visible(entry) && (entry.org == ACME) == own_org && range.accepts(*triple)
                    })
                    .map(|(_, triple)| *triple)
                    .max()
            };
            let expected = best_where(true).or_else(|| best_where(false));
            let entries: Vec<CatalogEntry> =
                catalog.iter().map(|(entry, _)| entry.clone()).collect();
            let actual = resolve(&reference(NAME, &range.text()), ACME, &entries)
                .ok()
                .map(|found| (found.version.major, found.version.minor, found.version.patch));
            prop_assert_eq!(actual, expected, "range {}", range.text());
        }
    }
}

#[test]
fn a_plugin_cannot_take_the_name_of_an_api_path() {
    let errors = errors_of(&build_spec("lookup", "1.0.0"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "name");
    assert!(errors[0].message.contains("reserved"));
}

mod secret_namespace {
    use super::*;

    fn with_secrets(names: &[&str]) -> PluginSpec {
        PluginSpec {
            secrets: names
                .iter()
                .map(|name| SecretRef {
                    name: name.to_string(),
                    required: true,
                })
                .collect(),
            ..build_spec("deploy-step", "1.0.0")
        }
    }

    fn refused_as(org: &str, names: &[&str]) -> Vec<(String, String)> {
        validate_for_publisher(&with_secrets(names), org, "pipeline-builder")
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|error| (error.field, error.message))
            .collect()
    }

    #[test]
    fn the_platforms_own_secrets_are_refused() {
        let refused = refused_as(
            ACME,
            &[
                "pipeline-builder/api-signing-keys",
                "staging-backend/api-signing-keys",
                "pipeline-builder/acme/platform",
                "pipeline-builder/acme/platform-a1b2c3",
                "pipeline-builder/cursor-key",
            ],
        );
        let key_set = "names the platform's signing key set".to_string();
        let token =
            "'pipeline-builder/acme/platform' is the platform's token of the org".to_string();
        assert_eq!(
            refused,
            vec![
                ("secrets[0].name".into(), key_set.clone()),
                ("secrets[1].name".into(), key_set),
                ("secrets[2].name".into(), token.clone()),
                ("secrets[3].name".into(), token),
                (
                    "secrets[4].name".into(),
                    "'pipeline-builder/…' names are the platform's own".into()
                ),
            ]
        );
    }

    #[test]
    fn another_orgs_prefix_is_refused_including_its_platform_token() {
        let refused = refused_as(
            ACME,
            &[
                "pipeline-builder/globex/npm-token",
                "pipeline-builder/globex/platform",
            ],
        );
        let other = "is under another org's prefix 'pipeline-builder/globex/'".to_string();
        assert_eq!(
            refused,
            vec![
                ("secrets[0].name".into(), other.clone()),
                ("secrets[1].name".into(), other),
            ]
        );
    }

    #[test]
    fn own_org_shared_deploy_and_outside_names_are_accepted() {
        let names = [
            "pipeline-builder/acme/crates-io",
            "pipeline-builder/deploy/notifications-webhook",
            "prod/payments/db-password",
        ];
        assert_eq!(refused_as(ACME, &names), vec![]);
        // The same spec from globex may not read acme's secret.
        assert_eq!(
            refused_as(GLOBEX, &names),
            vec![(
                "secrets[0].name".into(),
                "is under another org's prefix 'pipeline-builder/acme/'".into()
            )]
        );
    }

    #[test]
    fn a_stack_under_another_name_guards_its_own_prefix_too() {
        let spec = with_secrets(&[
            "pb-prod/globex/platform",
            "pb-prod/acme/platform",
            "pipeline-builder/globex/x",
            "pb-prod/acme/npm-token",
        ]);
        let refused: Vec<(String, String)> = validate_for_publisher(&spec, ACME, "pb-prod")
            .unwrap_err()
            .into_iter()
            .map(|error| (error.field, error.message))
            .collect();
        assert_eq!(
            refused,
            [
                (
                    "secrets[0].name".to_string(),
                    "is under another org's prefix 'pb-prod/globex/'".to_string()
                ),
                (
                    "secrets[1].name".to_string(),
                    "'pb-prod/acme/platform' is the platform's token of the org".to_string()
                ),
                (
                    "secrets[2].name".to_string(),
                    "is under another org's prefix 'pipeline-builder/globex/'".to_string()
                ),
            ]
        );
    }

    #[test]
    fn namespace_problems_come_with_the_other_field_problems() {
        let mut spec = with_secrets(&["pipeline-builder/globex/npm-token"]);
        spec.timeout_minutes = 1;
        let fields: Vec<String> = validate_for_publisher(&spec, ACME, "pipeline-builder")
            .unwrap_err()
            .into_iter()
            .map(|error| error.field)
            .collect();
        assert_eq!(fields, ["timeoutMinutes", "secrets[0].name"]);
    }
}

mod ownership {
    use std::collections::BTreeMap;

    use super::*;

    fn published<'a>(org: &'a str, version: &'a str, at: &'a str) -> PublicVersion<'a> {
        PublicVersion {
            name: "manual-approval",
            org,
            version,
            published_at: at,
        }
    }

    #[test]
    fn the_recorded_owner_keeps_the_name_whoever_published_first() {
        let versions = [
            published(GLOBEX, "1.0.0", "2026-01-01T00:00:00Z"),
            published(ACME, "1.0.0", "2026-02-01T00:00:00Z"),
        ];
        assert_eq!(public_name_owner(Some(ACME), &versions), Some(ACME));
    }

    #[test]
    fn without_a_record_the_earliest_publisher_owns_the_name_not_the_highest_version() {
        let versions = [
            published(GLOBEX, "1.999.0", "2026-03-01T12:00:00Z"),
            published(ACME, "1.0.0", "2026-03-01T11:59:59Z"),
            published(ACME, "1.1.0", "2026-03-02T00:00:00Z"),
        ];
        assert_eq!(public_name_owner(None, &versions), Some(ACME));
        // Same instant in another offset: still acme's first.
        let offsets = [
            published(GLOBEX, "1.0.0", "2026-03-01T12:00:00Z"),
            published(ACME, "1.0.0", "2026-03-01T13:00:00+02:00"),
        ];
        assert_eq!(public_name_owner(None, &offsets), Some(ACME));
    }

    #[test]
    fn ties_go_to_the_smallest_org_and_unreadable_times_never_win() {
        let tie = [
            published(INITECH, "1.0.0", "2026-03-01T12:00:00Z"),
            published(GLOBEX, "1.0.0", "2026-03-01T12:00:00Z"),
        ];
        assert_eq!(public_name_owner(None, &tie), Some(GLOBEX));
        let unreadable = [
            published(ACME, "1.0.0", "yesterday"),
            published(INITECH, "1.0.0", "2026-03-01T12:00:00Z"),
        ];
        assert_eq!(public_name_owner(None, &unreadable), Some(INITECH));
        assert_eq!(public_name_owner(None, &[]), None);
    }

    #[test]
    fn the_repair_records_missing_owners_and_privatizes_the_other_orgs_versions() {
        let lint = PublicVersion {
            name: "lint",
            ..published(INITECH, "3.0.0", "2026-01-05T00:00:00Z")
        };
        let scan = PublicVersion {
            name: "scan",
            ..published(GLOBEX, "1.0.0", "2026-01-01T00:00:00Z")
        };
        let public = [
            published(GLOBEX, "1.999.0", "2026-02-01T00:00:00Z"),
            published(ACME, "1.0.0", "2026-01-01T00:00:00Z"),
            published(GLOBEX, "1.0.0", "2026-01-02T00:00:00Z"),
            lint,
            scan,
        ];
        let recorded = BTreeMap::from([("scan", GLOBEX)]);
        let repair = plan_ownership_repair(&public, &recorded);
        assert_eq!(
            repair.owners_to_record,
            vec![("lint", INITECH), ("manual-approval", ACME)]
        );
        assert_eq!(repair.versions_to_make_private, vec![public[0], public[2]]);
        // Applied: globex's versions are private, owners recorded; nothing is left to do.
        let after = [public[1], lint, scan];
        let recorded_after = BTreeMap::from([
            ("scan", GLOBEX),
            ("lint", INITECH),
            ("manual-approval", ACME),
        ]);
        assert!(plan_ownership_repair(&after, &recorded_after).is_empty());
    }

    #[test]
    fn a_recorded_owner_wins_the_repair_too() {
        let public = [
            published(GLOBEX, "1.0.0", "2026-01-01T00:00:00Z"),
            published(ACME, "2.0.0", "2026-02-01T00:00:00Z"),
        ];
        let repair = plan_ownership_repair(&public, &BTreeMap::from([("manual-approval", ACME)]));
        assert_eq!(repair.owners_to_record, vec![]);
        assert_eq!(repair.versions_to_make_private, vec![public[0]]);
    }
}

#[test]
fn a_resolved_reference_names_its_publisher() {
    let catalog = [public(GLOBEX, "lint", "3.2.0")];
    let outcome = resolve_batch(
        &[RequestedPlugin {
            name: "lint".into(),
            version: "^3".into(),
        }],
        ACME,
        &catalog,
    );
    assert_eq!(outcome.resolved[0].publisher_org, GLOBEX);
}
