//! template.yaml and the local resource definitions (used by `make dev` and every test) must
//! describe the same tables, queues and rule; this fails as soon as they drift.

use pb_aws::config::{ApiConfig, IngestConfig, LookupConfig, NotifyConfig};
use pb_tests::resources::{
    codepipeline_event_pattern, notify_event_pattern, stack_event_pattern, QueueDef, TableDef,
    CATALOG_TABLE, EXECUTIONS_TABLE, INGEST_BATCHING_WINDOW_SECONDS, INGEST_BATCH_SIZE,
    INGEST_DEAD_LETTER_QUEUE, INGEST_FUNCTION_TIMEOUT_SECONDS, INGEST_QUEUE, NOTIFY_BATCH_SIZE,
    NOTIFY_DEAD_LETTER_QUEUE, NOTIFY_FUNCTION_TIMEOUT_SECONDS, NOTIFY_QUEUE,
};
use pb_tests::samples::{sample_catalog, sample_pipelines, synthesize};
use pb_tests::yaml::repo_yaml;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn template() -> Value {
    repo_yaml("template.yaml")
}

fn properties<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert!(
        resource.is_object(),
        "template.yaml has no resource {logical_id}"
    );
    &resource["Properties"]
}

/// A function's own property, or the one it takes from `Globals.Function`.
fn function_setting(template: &Value, function: &str, key: &str) -> Value {
    properties(template, function)
        .get(key)
        .or_else(|| template["Globals"]["Function"].get(key))
        .cloned()
        .unwrap_or_else(|| panic!("{function} has no {key}, not even from Globals"))
}

fn key_schema(hash: &str, range: &str) -> Value {
    json!([{"AttributeName": hash, "KeyType": "HASH"}, {"AttributeName": range, "KeyType": "RANGE"}])
}

/// What CloudFormation deploys with each condition as `holds` says: an `!If` becomes its chosen
/// branch, and what resolves to `AWS::NoValue` leaves its list or object.
fn resolve_ifs(value: &Value, holds: &dyn Fn(&str) -> bool) -> Option<Value> {
    if value == &json!({"!Ref": "AWS::NoValue"}) {
        return None;
    }
    match value {
        Value::Object(map) => match map.get("!If").and_then(Value::as_array) {
            Some(branches) if map.len() == 1 && branches.len() == 3 => {
                let condition = branches[0].as_str().unwrap_or_default();
                resolve_ifs(&branches[if holds(condition) { 1 } else { 2 }], holds)
            }
            _ => Some(Value::Object(
                map.iter()
                    .filter_map(|(k, v)| resolve_ifs(v, holds).map(|v| (k.clone(), v)))
                    .collect(),
            )),
        },
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| resolve_ifs(v, holds)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// A condition of template.yaml evaluated with the given parameter values.
fn condition_holds(template: &Value, name: &str, parameters: &BTreeMap<&str, &str>) -> bool {
    fn eval(expression: &Value, template: &Value, parameters: &BTreeMap<&str, &str>) -> Value {
        let Some((function, args)) = expression.as_object().and_then(|m| m.iter().next()) else {
            return expression.clone();
        };
        let arg = |i: usize| eval(&args[i], template, parameters);
        match function.as_str() {
            "!Ref" => {
                let name = args.as_str().unwrap();
                json!(parameters.get(name).copied().unwrap_or_else(|| {
                    template["Parameters"][name]["Default"].as_str().unwrap()
                }))
            }
            "!Equals" => json!(arg(0) == arg(1)),
            "!Not" => json!(!arg(0).as_bool().unwrap()),
            "!Or" => json!((0..args.as_array().unwrap().len()).any(|i| arg(i) == json!(true))),
            "!And" => json!((0..args.as_array().unwrap().len()).all(|i| arg(i) == json!(true))),
            other => panic!("condition function {other} is not evaluated here"),
        }
    }
    eval(&template["Conditions"][name], template, parameters) == json!(true)
}

fn assert_table_matches(template: &Value, def: &TableDef) {
    let deployed = resolve_ifs(properties(template, def.logical_id), &|condition| {
        condition_holds(template, condition, &BTreeMap::new())
    })
    .unwrap();
    let props = &deployed;
    assert_eq!(
        props["BillingMode"], "PAY_PER_REQUEST",
        "{}",
        def.logical_id
    );
    assert_eq!(
        props["KeySchema"],
        key_schema(def.hash, def.range),
        "{}",
        def.logical_id
    );
    let expected_attributes: Vec<Value> = def
        .key_attributes()
        .iter()
        .map(|a| json!({"AttributeName": a, "AttributeType": "S"}))
        .collect();
    assert_eq!(
        props["AttributeDefinitions"],
        Value::Array(expected_attributes),
        "{}",
        def.logical_id
    );
    let expected_indexes: Vec<Value> = def
        .indexes
        .iter()
        .map(|i| json!({"IndexName": i.name, "KeySchema": key_schema(i.hash, i.range), "Projection": {"ProjectionType": i.projection.as_str()}}))
        .collect();
    let indexes = props
        .get("GlobalSecondaryIndexes")
        .cloned()
        .unwrap_or_else(|| json!([]));
    assert_eq!(
        indexes,
        Value::Array(expected_indexes),
        "{}",
        def.logical_id
    );
    match def.ttl_attribute {
        Some(attribute) => assert_eq!(
            props["TimeToLiveSpecification"],
            json!({"AttributeName": attribute, "Enabled": true}),
            "{}",
            def.logical_id
        ),
        None => assert!(
            props.get("TimeToLiveSpecification").is_none(),
            "{}",
            def.logical_id
        ),
    }
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(props["SSESpecification"]["SSEEnabled"], true);
}

fn assert_queue_matches(template: &Value, def: &QueueDef) {
    let props = properties(template, def.logical_id);
    assert_eq!(
        props["MessageRetentionPeriod"], def.retention_seconds,
        "{}",
        def.logical_id
    );
    assert_eq!(props["SqsManagedSseEnabled"], true, "{}", def.logical_id);
    match def.visibility_timeout_seconds {
        Some(v) => assert_eq!(props["VisibilityTimeout"], v, "{}", def.logical_id),
        None => assert!(
            props.get("VisibilityTimeout").is_none(),
            "{}",
            def.logical_id
        ),
    }
    match def.max_receive_count {
        Some(max) => assert_eq!(props["RedrivePolicy"]["maxReceiveCount"], max),
        None => assert!(props.get("RedrivePolicy").is_none()),
    }
}

#[test]
fn tables_match_the_local_definitions() {
    let template = template();
    assert_table_matches(&template, &CATALOG_TABLE);
    assert_table_matches(&template, &EXECUTIONS_TABLE);
}

#[test]
fn history_indexes_are_added_one_per_stack_update() {
    let template = template();
    for stage in ["1", "2", "3", "4"] {
        let parameters = BTreeMap::from([("ExecutionHistoryIndexes", stage)]);
        let deployed = resolve_ifs(properties(&template, "ExecutionsTable"), &|condition| {
            condition_holds(&template, condition, &parameters)
        })
        .unwrap();
        let count: usize = stage.parse().unwrap();
        let expected = TableDef {
            indexes: &EXECUTIONS_TABLE.indexes[..count],
            ..EXECUTIONS_TABLE
        };
        let names: Vec<&str> = deployed["GlobalSecondaryIndexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["IndexName"].as_str().unwrap())
            .collect();
        let expected_names: Vec<&str> = expected.indexes.iter().map(|i| i.name).collect();
        assert_eq!(names, expected_names, "stage {stage}");
        let attributes: Vec<&str> = deployed["AttributeDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AttributeName"].as_str().unwrap())
            .collect();
        assert_eq!(attributes, expected.key_attributes(), "stage {stage}");
    }
}

#[test]
fn queues_match_the_local_definitions() {
    let template = template();
    assert_queue_matches(&template, &INGEST_QUEUE);
    assert_queue_matches(&template, &INGEST_DEAD_LETTER_QUEUE);
    assert_queue_matches(&template, &NOTIFY_QUEUE);
    assert_queue_matches(&template, &NOTIFY_DEAD_LETTER_QUEUE);
    assert_eq!(
        properties(&template, "NotifyQueue")["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"!GetAtt": "NotifyDeadLetterQueue.Arn"})
    );
    assert_eq!(
        properties(&template, "IngestQueue")["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"!GetAtt": "IngestDeadLetterQueue.Arn"})
    );
}

#[test]
fn the_stack_events_rule_matches_the_local_one() {
    let template = template();
    let rule = properties(&template, "CloudFormationStackEventsRule");
    let mut pattern = rule["EventPattern"].clone();
    let sub = pattern["resources"][0]["prefix"]["!Sub"]
        .as_str()
        .unwrap()
        .to_string();
    pattern["resources"][0]["prefix"] = json!(sub
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012"));
    assert_eq!(
        pattern,
        stack_event_pattern("arn:aws:cloudformation:us-east-1:123456789012:")
    );
}

#[test]
fn the_rule_routes_the_three_codepipeline_detail_types_to_the_ingest_queue() {
    let template = template();
    let rule = properties(&template, "CodePipelineEventsRule");
    assert_eq!(rule["EventPattern"], codepipeline_event_pattern());
    assert!(
        rule.get("EventBusName").is_none(),
        "AWS service events arrive on the default bus"
    );
    assert_eq!(
        rule["Targets"][0]["Arn"],
        json!({"!GetAtt": "IngestQueue.Arn"})
    );
}

#[test]
fn the_function_and_its_event_source_follow_the_queue_settings() {
    let template = template();
    let function = properties(&template, "IngestFunction");
    assert_eq!(
        function_setting(&template, "IngestFunction", "Runtime"),
        "provided.al2023"
    );
    assert_eq!(function["Timeout"], INGEST_FUNCTION_TIMEOUT_SECONDS);
    assert_eq!(
        function_setting(&template, "IngestFunction", "Architectures"),
        json!([{"!Ref": "Architecture"}])
    );
    assert_eq!(
        template["Resources"]["IngestFunction"]["Metadata"]["BuildMethod"],
        "rust-cargolambda"
    );
    let source = &function["Events"]["IngestQueueEvent"]["Properties"];
    assert_eq!(source["BatchSize"], INGEST_BATCH_SIZE);
    assert_eq!(
        source["MaximumBatchingWindowInSeconds"],
        INGEST_BATCHING_WINDOW_SECONDS
    );
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert!(source["ScalingConfig"]["MaximumConcurrency"]
        .as_i64()
        .is_some());
    let visibility = properties(&template, "IngestQueue")["VisibilityTimeout"]
        .as_i64()
        .unwrap_or_default();
    assert!(
        visibility
            >= 6 * i64::from(INGEST_FUNCTION_TIMEOUT_SECONDS)
                + i64::from(INGEST_BATCHING_WINDOW_SECONDS),
        "visibility timeout {visibility} is under 6 x timeout + batching window"
    );
}

#[test]
fn the_function_gets_every_variable_its_configuration_requires() {
    let template = template();
    let variables = &properties(&template, "IngestFunction")["Environment"]["Variables"];
    let from_template = |name: &str| {
        variables.get(name).map(|_| match name {
            "QUARANTINE_UNREGISTERED" => "false".to_string(),
            n if n.ends_with("_SECONDS") => "1".to_string(),
            _ => "set".to_string(),
        })
    };
    assert_eq!(IngestConfig::from_lookup(from_template).err(), None);
    for optional in ["TAG_CACHE_TTL_SECONDS", "QUARANTINE_UNREGISTERED"] {
        assert!(
            variables.get(optional).is_some(),
            "IngestFunction does not set {optional}"
        );
    }
}

#[test]
fn the_function_policies_grant_only_what_ingest_calls() {
    let template = template();
    let function = properties(&template, "IngestFunction");
    assert_eq!(
        function["Role"],
        json!({"!GetAtt": "IngestFunctionRole.Arn"}),
        "IngestFunction must use the explicit IngestFunctionRole"
    );
    assert!(
        function.get("Policies").is_none(),
        "IngestFunction must not declare Policies: its permissions live on IngestFunctionRole"
    );
    assert_eq!(
        template["Resources"]["IngestFunctionRole"]["Type"], "AWS::IAM::Role",
        "IngestFunctionRole is not an AWS::IAM::Role"
    );
    let role = properties(&template, "IngestFunctionRole");
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "IngestFunctionRole must not attach managed policies"
    );
    let policies = role["Policies"].to_string();
    for action in [
        "codepipeline:ListTagsForResource",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "events:PutEvents",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
    ] {
        assert!(
            policies.contains(action),
            "IngestFunctionRole policy lacks {action}"
        );
    }
    for broad in [
        "\"*\"",
        "dynamodb:*",
        "sqs:*",
        "events:*",
        "logs:*",
        "cloudformation:*",
        "Scan",
    ] {
        assert!(
            !policies.contains(broad),
            "IngestFunctionRole policy grants {broad}"
        );
    }
}

#[test]
fn ingest_writes_only_the_catalog_partitions_a_deployment_changes() {
    let template = template();
    let writes = role_statement(
        &template,
        "IngestFunctionRole",
        "CatalogTableWriteDeploymentItems",
    );
    assert_eq!(writes["Resource"], json!({"!GetAtt": "CatalogTable.Arn"}));
    let leading: Vec<String> = writes["Condition"]["ForAllValues:StringLike"]
        ["dynamodb:LeadingKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let allowed = |key: &str| leading.iter().any(|p| iam_glob_matches(p, key));
    for key in [
        pb_aws::keys::pipeline_pk("acme"),
        pb_aws::keys::registry_pk("pl-1"),
        "STACK#us-east-1#pb-acme-payments-service".to_string(),
    ] {
        assert!(allowed(&key), "ingest cannot write {key}");
    }
    for key in [
        pb_aws::keys::AUDIT_RUN_PK.to_string(),
        pb_aws::keys::public_name_pk("node-build"),
    ] {
        assert!(!allowed(&key), "ingest may write {key}");
    }
    // Deleting is only for those items: never an execution, never outside the condition.
    for (actions, resource) in role_statements(&template, "IngestFunction") {
        if actions.iter().any(|a| a == "dynamodb:DeleteItem") {
            assert_eq!(resource, writes["Resource"].to_string(), "{actions:?}");
        }
    }
    let stacks = role_statement(&template, "IngestFunctionRole", "ReadPipelineStacks");
    assert_eq!(
        stacks["Action"],
        json!([
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackEvents"
        ])
    );
    assert_eq!(stacks["Resource"], json!({"!Sub": PIPELINE_STACKS}));
}

/// The statements of a function's explicit role, each as (actions, resources) JSON text.
fn role_statements(template: &Value, function: &str) -> Vec<(Vec<String>, String)> {
    let role_id = format!("{function}Role");
    assert_eq!(
        properties(template, function)["Role"],
        json!({"!GetAtt": format!("{role_id}.Arn")}),
        "{function} must use the explicit {role_id}"
    );
    let role = properties(template, &role_id);
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "{role_id} attaches managed policies"
    );
    role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow");
            let actions = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                other => panic!("unexpected Action {other}"),
            };
            (actions, statement["Resource"].to_string())
        })
        .collect()
}

fn variables_lookup(template: &Value, function: &str) -> impl Fn(&str) -> Option<String> {
    let variables = properties(template, function)["Environment"]["Variables"].clone();
    move |name: &str| {
        variables.get(name).map(|_| match name {
            n if n.ends_with("_SECONDS") || n.ends_with("_BYTES") => "1".to_string(),
            _ => "set".to_string(),
        })
    }
}

#[test]
fn the_api_and_lookup_functions_get_their_configuration() {
    let template = template();
    assert_eq!(
        ApiConfig::from_lookup(variables_lookup(&template, "ApiFunction")).err(),
        None
    );
    assert_eq!(
        LookupConfig::from_lookup(variables_lookup(&template, "PluginLookupFunction")).err(),
        None
    );
    let api = properties(&template, "ApiFunction");
    assert_eq!(
        api["Environment"]["Variables"]["KEY_SET_SECRET_ID"],
        json!({"!Ref": "ApiKeySet"})
    );
    assert_eq!(api["Events"]["Proxy"]["Properties"]["Path"], "/{proxy+}");
    assert_eq!(api["Events"]["Health"]["Properties"]["Path"], "/health");
    let generated = &properties(&template, "ApiKeySet")["GenerateSecretString"];
    assert_eq!(generated["SecretStringTemplate"], r#"{"active":"k1"}"#);
    assert_eq!(generated["GenerateStringKey"], "k1");
    for output in [
        "PlatformApiUrl",
        "PluginLookupFunctionArn",
        "PlatformEventBusArn",
    ] {
        assert!(
            template["Outputs"][output]["Export"].is_object(),
            "{output} is not exported"
        );
    }
}

#[test]
fn the_api_role_reads_its_key_set_and_writes_only_platform_token_and_webhook_secrets() {
    let template = template();
    let statements = role_statements(&template, "ApiFunction");
    let platform_tokens = "${AWS::StackName}/*/platform-??????";
    let webhooks = "${AWS::StackName}/*/webhooks/*";
    for (actions, resource) in &statements {
        for action in actions {
            assert!(!action.contains('*'), "ApiFunctionRole grants {action}");
            match action.as_str() {
                "secretsmanager:GetSecretValue" => assert!(
                    resource.contains(&json!({"!Ref": "ApiKeySet"}).to_string()),
                    "{action} on {resource}"
                ),
                "secretsmanager:DeleteSecret" => {
                    assert!(resource.contains(webhooks), "{action} on {resource}")
                }
                other if other.starts_with("secretsmanager:") => assert!(
                    resource.contains(platform_tokens) || resource.contains(webhooks),
                    "{action} on {resource}"
                ),
                _ => {}
            }
            if action.starts_with("dynamodb:") && resource.contains("ExecutionsTable") {
                assert!(
                    matches!(
                        action.as_str(),
                        "dynamodb:Query" | "dynamodb:GetItem" | "dynamodb:BatchGetItem"
                    ),
                    "the API may only read ExecutionsTable, not {action}"
                );
            } else if action.starts_with("dynamodb:") {
                assert!(resource.contains("CatalogTable"), "{action} on {resource}");
            }
        }
        assert_ne!(resource, "\"*\"", "{actions:?} on every resource");
    }
    let actions: Vec<&str> = statements
        .iter()
        .flat_map(|(a, _)| a.iter().map(String::as_str))
        .collect();
    for needed in [
        "secretsmanager:GetSecretValue",
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "secretsmanager:DeleteSecret",
        "sqs:SendMessage",
    ] {
        assert!(actions.contains(&needed), "ApiFunctionRole lacks {needed}");
    }
    assert!(!actions.iter().any(|a| a.contains("Scan")));
    let queue_writes: Vec<&String> = statements
        .iter()
        .filter(|(actions, _)| actions.iter().any(|a| a.starts_with("sqs:")))
        .map(|(_, resource)| resource)
        .collect();
    assert_eq!(
        queue_writes,
        [&json!({"!GetAtt": "NotifyQueue.Arn"}).to_string()],
        "the API may send only to the notify queue"
    );
}

#[test]
fn the_lookup_role_is_read_only_on_the_catalog() {
    let template = template();
    let actions: Vec<String> = role_statements(&template, "PluginLookupFunction")
        .into_iter()
        .flat_map(|(actions, _)| actions)
        .collect();
    assert_eq!(
        actions,
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "dynamodb:GetItem",
            "dynamodb:Query"
        ]
    );
}

#[test]
fn the_audit_function_runs_nightly_with_a_narrow_role() {
    let template = template();
    let audit = properties(&template, "AuditFunction");
    let config =
        pb_aws::config::AuditConfig::from_lookup(variables_lookup(&template, "AuditFunction"))
            .unwrap();
    assert!(config.required_event_bus().is_ok());
    let schedule = &audit["Events"]["Nightly"];
    assert_eq!(schedule["Type"], "ScheduleV2");
    assert_eq!(
        schedule["Properties"]["ScheduleExpression"],
        json!({"!Ref": "AuditSchedule"})
    );
    let statements = role_statements(&template, "AuditFunction");
    let actions: Vec<&str> = statements
        .iter()
        .flat_map(|(a, _)| a.iter().map(String::as_str))
        .collect();
    assert_eq!(
        actions,
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "cloudformation:DescribeStacks",
            "dynamodb:Query",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "sqs:SendMessage",
            "events:PutEvents",
        ]
    );
    let tokens = role_statement(&template, "AuditFunctionRole", "ReadStoredTokenExpiry");
    assert_eq!(tokens["Resource"], json!({"!GetAtt": "CatalogTable.Arn"}));
    assert_eq!(
        tokens["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["ORG#*"])
    );
    assert_eq!(
        tokens["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"],
        json!(["PK", "SK", "jti", "issuedAt", "expiresAt", "stored"]),
        "the attributes TokenStore::stored_tokens names, and nothing else"
    );
    let writes = role_statement(&template, "AuditFunctionRole", "WriteAuditRuns");
    assert_eq!(
        writes["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["AUDIT", "AUDIT#RUN#*"])
    );
}

fn role_statement<'a>(template: &'a Value, role: &str, sid: &str) -> &'a Value {
    properties(template, role)["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("{role} has no statement {sid}"))
}

#[test]
fn every_sdk_call_times_out_well_inside_its_functions_lambda_timeout() {
    use pb_aws::clients::SdkTimeouts;
    let template = template();
    let global = template["Globals"]["Function"]["Timeout"].as_u64();
    for (function, timeouts) in [
        ("ApiFunction", SdkTimeouts::API),
        ("IngestFunction", SdkTimeouts::INGEST),
        ("PluginLookupFunction", SdkTimeouts::PLUGIN_LOOKUP),
        ("AuditFunction", SdkTimeouts::AUDIT),
        ("NotifyFunction", SdkTimeouts::NOTIFY),
    ] {
        let lambda_seconds = properties(&template, function)["Timeout"]
            .as_u64()
            .or(global)
            .unwrap_or_else(|| panic!("{function} has no Timeout"));
        let lambda = std::time::Duration::from_secs(lambda_seconds);
        assert!(
            timeouts.operation * 2 <= lambda,
            "{function}: one SDK call may take {:?} of the {lambda:?} Lambda timeout",
            timeouts.operation
        );
        assert!(timeouts.attempt < timeouts.operation, "{function}");
        assert!(timeouts.connect < timeouts.attempt, "{function}");
    }
}

/// `*` any run of characters, `?` exactly one: IAM's resource and StringLike wildcards.
fn iam_glob_matches(pattern: &str, text: &str) -> bool {
    match pattern.chars().next() {
        None => text.is_empty(),
        Some('*') => (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .any(|i| iam_glob_matches(&pattern[1..], &text[i..])),
        Some('?') => text
            .chars()
            .next()
            .is_some_and(|c| iam_glob_matches(&pattern[1..], &text[c.len_utf8()..])),
        Some(p) => {
            text.starts_with(p) && iam_glob_matches(&pattern[p.len_utf8()..], &text[p.len_utf8()..])
        }
    }
}

#[test]
fn the_api_writes_token_secrets_only_under_its_own_stacks_prefix() {
    let template = template();
    let variables = &properties(&template, "ApiFunction")["Environment"]["Variables"];
    assert_eq!(
        variables["PLATFORM_SECRET_PREFIX"],
        json!({"!Ref": "AWS::StackName"})
    );
    let store = role_statement(&template, "ApiFunctionRole", "StorePlatformTokens");
    let arn_pattern = store["Resource"]["!Sub"].as_str().unwrap();
    let secret_pattern = arn_pattern
        .rsplit_once(":secret:")
        .unwrap()
        .1
        .replace("${AWS::StackName}", "pipeline-builder-staging");
    let config = ApiConfig::from_lookup(|name| match name {
        "PLATFORM_SECRET_PREFIX" => Some("pipeline-builder-staging".into()),
        _ => variables_lookup(&template, "ApiFunction")(name),
    })
    .unwrap();
    // Secrets Manager appends "-" and six random characters to the name in the ARN.
    let own = format!("{}/acme/platform-AbC123", config.platform_secret_prefix);
    assert!(
        iam_glob_matches(&secret_pattern, &own),
        "{secret_pattern} vs {own}"
    );
    for foreign in [
        "pipeline-builder/acme/platform-AbC123",
        "pipeline-builder-prod/acme/platform-AbC123",
        "pipeline-builder-staging/acme/other-AbC123",
    ] {
        assert!(
            !iam_glob_matches(&secret_pattern, foreign),
            "{secret_pattern} lets the API write {foreign}"
        );
    }
}

#[test]
fn the_api_role_writes_only_org_and_registry_partitions_of_the_catalog() {
    use pb_aws::keys::{
        audit_run_sk, pipeline_pk, plugin_pk, public_name_pk, registry_pk, rule_pk, AUDIT_RUN_PK,
    };
    let template = template();
    let writes = role_statement(
        &template,
        "ApiFunctionRole",
        "CatalogTableWriteOrgAndRegistryItems",
    );
    assert_eq!(writes["Resource"], json!({"!GetAtt": "CatalogTable.Arn"}));
    let leading = writes["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let allowed = |key: &str| leading.iter().any(|p| iam_glob_matches(p, key));
    let plugin_version = plugin_pk("acme", "node-build");
    for key in [
        pipeline_pk("acme"),
        rule_pk("acme"),
        plugin_version.as_str().to_string(),
        registry_pk("pl-1"),
        public_name_pk("node-build"),
    ] {
        assert!(allowed(&key), "the API cannot write {key}");
    }
    for key in [
        AUDIT_RUN_PK.to_string(),
        format!("AUDIT#{}", audit_run_sk("x")),
        "PIPE#pl-1".into(),
    ] {
        assert!(!allowed(&key), "the API may write {key}");
    }
    let conditioned_resource = writes["Resource"].to_string();
    for (actions, resource) in role_statements(&template, "ApiFunction") {
        let writes_catalog = resource.contains("CatalogTable")
            && actions.iter().any(|a| {
                matches!(
                    a.as_str(),
                    "dynamodb:PutItem"
                        | "dynamodb:UpdateItem"
                        | "dynamodb:DeleteItem"
                        | "dynamodb:ConditionCheckItem"
                )
            });
        assert!(
            !writes_catalog || resource == conditioned_resource,
            "{actions:?} on {resource} without the leading-keys condition"
        );
    }
}

#[test]
fn the_api_has_reserved_concurrency() {
    let template = template();
    assert_eq!(
        properties(&template, "ApiFunction")["ReservedConcurrentExecutions"],
        json!({"!Ref": "ApiReservedConcurrency"})
    );
    let parameter = &template["Parameters"]["ApiReservedConcurrency"];
    assert_eq!(parameter["MinValue"], 1);
    assert!(parameter["Default"].as_u64().is_some_and(|d| d >= 1));
}

#[test]
fn only_this_account_and_cloudformation_for_it_may_invoke_the_lookup() {
    let template = template();
    let permissions: Vec<&Value> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission")
        .map(|r| &r["Properties"])
        .filter(|p| {
            p["FunctionName"]
                .to_string()
                .contains("PluginLookupFunction")
        })
        .collect();
    let mut principals: Vec<String> = permissions
        .iter()
        .map(|p| p["Principal"].to_string())
        .collect();
    principals.sort();
    assert_eq!(
        principals,
        [
            json!("cloudformation.amazonaws.com").to_string(),
            json!({"!Ref": "AWS::AccountId"}).to_string()
        ]
    );
    for permission in &permissions {
        assert_eq!(permission["Action"], "lambda:InvokeFunction");
        if permission["Principal"].is_string() {
            assert_eq!(
                permission["SourceAccount"],
                json!({"!Ref": "AWS::AccountId"}),
                "CloudFormation may invoke the lookup only for this account's stacks"
            );
        }
    }
}

#[test]
fn the_api_pages_the_execution_history_with_index_queries_and_batch_reads_only() {
    let template = template();
    let index = role_statement(&template, "ApiFunctionRole", "ExecutionsHistoryIndexRead");
    assert_eq!(index["Action"], json!(["dynamodb:Query"]));
    assert_eq!(
        index["Resource"],
        json!({"!Sub": "${ExecutionsTable.Arn}/index/*"})
    );
    let table = role_statement(&template, "ApiFunctionRole", "ExecutionsTableRead");
    assert!(
        table["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("dynamodb:BatchGetItem")),
        "a history page reads its items back with BatchGetItem"
    );
    assert_eq!(table["Resource"], json!({"!GetAtt": "ExecutionsTable.Arn"}));
}

#[test]
fn the_audit_queries_only_gsi1() {
    let template = template();
    let read = role_statement(&template, "AuditFunctionRole", "ReadRegistry");
    assert_eq!(read["Action"], json!(["dynamodb:Query"]));
    assert_eq!(
        read["Resource"],
        json!({"!Sub": "${CatalogTable.Arn}/index/GSI1"})
    );
    assert_eq!(read.get("Condition"), None);
    let alarm = properties(&template, "AuditRunFailedAlarm");
    assert_eq!(alarm["MetricName"], "ReadFailures");
}

const FUNCTIONS: [&str; 5] = [
    "IngestFunction",
    "ApiFunction",
    "PluginLookupFunction",
    "AuditFunction",
    "NotifyFunction",
];

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

#[test]
fn the_functions_share_their_common_settings_through_globals() {
    let template = template();
    let globals = template["Globals"]["Function"].as_object().unwrap();
    for function in FUNCTIONS {
        let props = properties(&template, function);
        for key in globals.keys().filter(|k| *k != "LoggingConfig") {
            assert!(
                props.get(key).is_none(),
                "{function} sets {key} itself instead of taking it from Globals"
            );
        }
        assert_eq!(
            props["LoggingConfig"],
            json!({"LogGroup": {"!Ref": format!("{function}LogGroup")}}),
            "{function} must add only its own log group to the shared LoggingConfig"
        );
    }
}

#[test]
fn the_functions_log_json_at_the_level_of_the_log_level_parameter() {
    let template = template();
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert_eq!(logging["ApplicationLogLevel"], json!({"!Ref": "LogLevel"}));
    // Lambda accepts only these as ApplicationLogLevel; anything else fails the deploy.
    assert_eq!(
        template["Parameters"]["LogLevel"]["AllowedValues"],
        json!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])
    );
    for function in FUNCTIONS {
        assert!(
            properties(&template, function)["Environment"]["Variables"]
                .get("RUST_LOG")
                .is_none(),
            "{function}: the level comes from ApplicationLogLevel (AWS_LAMBDA_LOG_LEVEL), not RUST_LOG"
        );
    }
}

#[test]
fn tracing_follows_the_parameter_and_grants_only_xray_writes_while_on() {
    let template = template();
    assert_eq!(
        template["Parameters"]["Tracing"]["AllowedValues"],
        json!(["Disabled", "PassThrough", "Active"])
    );
    assert_eq!(
        template["Conditions"]["TracingOn"],
        json!({"!Not": [{"!Equals": [{"!Ref": "Tracing"}, "Disabled"]}]})
    );
    assert_eq!(
        template["Globals"]["Function"]["Tracing"],
        json!({"!If": ["TracingOn", {"!Ref": "Tracing"}, "PassThrough"]})
    );
    let policy = &template["Resources"]["TracingPolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::Policy");
    assert_eq!(policy["Condition"], "TracingOn");
    let roles: Vec<Value> = FUNCTIONS
        .iter()
        .map(|f| json!({"!Ref": format!("{f}Role")}))
        .collect();
    assert_eq!(policy["Properties"]["Roles"], Value::Array(roles));
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*"
        }])
    );
}

/// What a delete leaves behind must not stop the same stack from being created again.
#[test]
fn retained_resources_have_no_name_a_new_stack_would_collide_with() {
    for file in [
        "template.yaml",
        "infra/ec2/template.yaml",
        "infra/eks/network.yaml",
    ] {
        let template = repo_yaml(file);
        for (id, resource) in template["Resources"].as_object().unwrap() {
            let retained = [
                &resource["DeletionPolicy"],
                &resource["UpdateReplacePolicy"],
            ]
            .iter()
            .any(|policy| *policy == "Retain");
            if !retained {
                continue;
            }
            for (key, name) in resource["Properties"].as_object().unwrap() {
                if key.ends_with("Name") {
                    assert!(
                        name.to_string().contains("AWS::StackId"),
                        "{file}: retained {id} has the fixed {key} {name}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_key_set_name_is_unique_per_stack_and_still_guarded_from_plugins() {
    let template = template();
    let name = &properties(&template, "ApiKeySet")["Name"]["!Sub"];
    assert_eq!(name[0], "${AWS::StackName}/api-signing-keys-${StackUuid}");
    assert_eq!(
        name[1]["StackUuid"],
        json!({"!Select": [2, {"!Split": ["/", {"!Ref": "AWS::StackId"}]}]})
    );
}

#[test]
fn a_scheduled_audit_that_fails_twice_lands_in_an_alarmed_queue() {
    let template = template();
    let invoke = &properties(&template, "AuditFunction")["EventInvokeConfig"];
    assert_eq!(invoke["MaximumRetryAttempts"], 1);
    let queue_arn = json!({"!GetAtt": "AuditFailedRunsQueue.Arn"});
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"],
        json!({"Type": "SQS", "Destination": queue_arn})
    );
    let record = role_statement(&template, "AuditFunctionRole", "RecordFailedRuns");
    assert_eq!(record["Action"], json!(["sqs:SendMessage"]));
    assert_eq!(record["Resource"], queue_arn);
    let alarm = properties(&template, "AuditFailedRunsAlarm");
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        json!({"!GetAtt": "AuditFailedRunsQueue.QueueName"})
    );
}

fn alarm_on<'a>(
    template: &'a Value,
    namespace: &str,
    metric: &str,
    dimension: &Value,
) -> &'a Value {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, alarm)| &alarm["Properties"])
        .find(|p| {
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && p["Dimensions"][0]["Value"] == *dimension
        })
        .unwrap_or_else(|| panic!("no alarm on {namespace} {metric} of {dimension}"))
}

#[test]
fn every_function_alarms_on_errors_and_throttles() {
    let template = template();
    for function in FUNCTIONS {
        for metric in ["Errors", "Throttles"] {
            let alarm = alarm_on(&template, "AWS/Lambda", metric, &json!({"!Ref": function}));
            assert_eq!(alarm["Threshold"], 1, "{function} {metric}");
        }
    }
    let api = json!({"!Ref": "HttpApi"});
    alarm_on(&template, "AWS/ApiGateway", "5xx", &api);
    let latency = alarm_on(&template, "AWS/ApiGateway", "Latency", &api);
    assert_eq!(latency["ExtendedStatistic"], "p99");
    let queue = json!({"!GetAtt": "IngestQueue.QueueName"});
    alarm_on(
        &template,
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        &queue,
    );
}

#[test]
fn every_alarm_notifies_the_exported_topic_within_cloudwatchs_evaluation_limits() {
    let template = template();
    for (id, alarm) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        let props = &alarm["Properties"];
        assert_eq!(
            props["AlarmActions"],
            json!([{"!Ref": "AlarmTopic"}]),
            "{id}"
        );
        let period = props["Period"].as_u64().unwrap();
        let periods = props["EvaluationPeriods"].as_u64().unwrap();
        // PutMetricAlarm refuses a longer evaluation range.
        let most = if period >= 3600 { 7 * 86_400 } else { 86_400 };
        assert!(period * periods <= most, "{id}: {period} s x {periods}");
        if let Some(needed) = props["DatapointsToAlarm"].as_u64() {
            assert!(needed <= periods, "{id}");
        }
    }
    let output = &template["Outputs"]["AlarmTopicArn"];
    assert_eq!(output["Value"], json!({"!Ref": "AlarmTopic"}));
    assert!(
        output["Export"].is_object(),
        "AlarmTopicArn is not exported"
    );
}

#[test]
fn the_audit_heartbeat_alarms_after_26_hours_without_a_completed_run() {
    let template = template();
    let audit = json!({"!Ref": "AuditFunction"});
    let alarm = alarm_on(&template, "PipelineBuilder/Audit", "RunSucceeded", &audit);
    // No run means no data point: only missing data treated as breaching can alarm.
    assert_eq!(alarm["TreatMissingData"], "breaching");
    assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(alarm["Threshold"], 1);
    let window = alarm["Period"].as_u64().unwrap() * alarm["DatapointsToAlarm"].as_u64().unwrap();
    assert_eq!(window, 26 * 3600);
    let expiring = alarm_on(
        &template,
        "PipelineBuilder/Audit",
        "StoredTokensExpiringSoon",
        &audit,
    );
    assert_eq!(expiring["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(expiring["Threshold"], 0);
}

/// The dashboard body with every `${…}` of its `!Sub` replaced, as JSON.
fn dashboard(template: &Value) -> Value {
    let body = properties(template, "Dashboard")["DashboardBody"]["!Sub"]
        .as_str()
        .expect("DashboardBody is a !Sub string");
    let mut substituted = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("an unclosed ${");
        substituted.push_str(&rest[..start]);
        substituted.push('x');
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    serde_json::from_str(&substituted).unwrap_or_else(|e| panic!("DashboardBody is not JSON: {e}"))
}

/// (namespace, metric) of every metric the dashboard charts.
fn dashboard_metrics(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["properties"]["metrics"].as_array())
        .flatten()
        .map(|m| (m[0].as_str().unwrap().into(), m[1].as_str().unwrap().into()))
        .collect()
}

/// The metric names of the first EMF directive of a document.
fn emf_metric_names(document: &Value) -> Vec<String> {
    document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect()
}

fn emitted_metrics() -> Vec<(String, String)> {
    let ingest = pb_ingest::summary::BatchSummary::default().emf("f", 0);
    let audit = pb_audit::metrics::RunMetrics::default().emf("f", 0);
    [
        (pb_ingest::summary::METRIC_NAMESPACE, ingest),
        (pb_audit::metrics::METRIC_NAMESPACE, audit),
    ]
    .iter()
    .flat_map(|(namespace, document)| {
        emf_metric_names(document)
            .into_iter()
            .map(|name| (namespace.to_string(), name))
    })
    .collect()
}

#[test]
fn the_dashboard_charts_every_ingest_outcome_and_shows_every_alarm() {
    let template = template();
    let dashboard = dashboard(&template);
    let charted = dashboard_metrics(&dashboard);
    for metric in emitted_metrics()
        .into_iter()
        .filter(|(namespace, _)| namespace == pb_ingest::summary::METRIC_NAMESPACE)
    {
        assert!(charted.contains(&metric), "the dashboard lacks {metric:?}");
    }
    let shown = properties(&template, "Dashboard")["DashboardBody"]["!Sub"]
        .as_str()
        .unwrap();
    for (id, _) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        assert!(
            shown.contains(&format!("\"${{{id}.Arn}}\"")),
            "the dashboard's alarm widget lacks {id}"
        );
    }
}

/// A metric the code does not emit would chart nothing, and an alarm on it would never (or,
/// treating missing data as breaching, always) fire.
#[test]
fn the_template_uses_only_metrics_the_functions_emit() {
    let template = template();
    let emitted = emitted_metrics();
    let mut used = dashboard_metrics(&dashboard(&template));
    used.extend(
        resources_of_type(&template, "AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, a)| &a["Properties"])
            .map(|p| {
                let text = |v: &Value| v.as_str().unwrap().to_string();
                (text(&p["Namespace"]), text(&p["MetricName"]))
            }),
    );
    for metric in used
        .into_iter()
        .filter(|(namespace, _)| namespace.starts_with("PipelineBuilder/"))
    {
        assert!(emitted.contains(&metric), "no function emits {metric:?}");
    }
}

/// `make token` signs with the key set and claims of the deployed stack (scripts/deploy.py).
#[test]
fn the_stack_outputs_what_make_token_needs() {
    let template = template();
    for (output, value) in [
        ("ApiKeySetSecretArn", json!({"!Ref": "ApiKeySet"})),
        ("TokenIssuer", json!({"!Ref": "TokenIssuer"})),
        ("TokenAudience", json!({"!Ref": "TokenAudience"})),
    ] {
        assert_eq!(template["Outputs"][output]["Value"], value, "{output}");
    }
}

// ---------------------------------------------------------------------------
// Deploying synthesized pipelines: the API's stack permissions, the service role CloudFormation
// runs them with, and the boundary every role of a deployed stack carries.
// ---------------------------------------------------------------------------

/// The stacks the API and ingest may touch: the platform's own, named "pb-…".
const PIPELINE_STACKS: &str =
    "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/pb-*/*";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const PLATFORM_STACK: &str = "pipeline-builder";

/// What the references of a policy stand for: `AWS::…` pseudo parameters, logical ids and
/// `Id.Attribute` paths.
type Names = BTreeMap<String, String>;

fn pseudo_parameters(stack: &str) -> Names {
    [
        ("AWS::Partition", "aws"),
        ("AWS::Region", REGION),
        ("AWS::AccountId", ACCOUNT),
        ("AWS::StackName", stack),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// CloudFormation's name for a resource its template leaves unnamed: the stack name, the logical
/// id and a random suffix, the first two cut short to fit `max` characters.
fn generated_name(stack: &str, logical_id: &str, max: usize) -> String {
    const SUFFIX: &str = "-1A2B3C4D5E6F7";
    let stem: String = format!("{stack}-{logical_id}")
        .chars()
        .take(max - SUFFIX.len())
        .collect();
    format!("{stem}{SUFFIX}")
}

/// The names of the platform stack's own resources that its policies refer to.
fn platform_names() -> Names {
    let mut names = pseudo_parameters(PLATFORM_STACK);
    let role = generated_name(PLATFORM_STACK, "PipelineStackRole", 64);
    let boundary = generated_name(PLATFORM_STACK, "PipelineRoleBoundary", 128);
    let bucket = generated_name(PLATFORM_STACK, "PipelineTemplateBucket", 63).to_lowercase();
    for (name, value) in [
        (
            "PipelineStackRole.Arn",
            format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
        ),
        (
            "PipelineRoleBoundary",
            format!("arn:aws:iam::{ACCOUNT}:policy/{boundary}"),
        ),
        (
            "PipelineTemplateBucket.Arn",
            format!("arn:aws:s3:::{bucket}"),
        ),
    ] {
        names.insert(name.to_string(), value);
    }
    names
}

/// The physical names a deployed synthesized stack's resources get, and the boundary it is
/// given as its `PermissionsBoundaryArn` parameter.
fn deployed_names(synthesized: &Value) -> Names {
    let stack = synthesized["Metadata"]["pipeline-builder"]["stackName"]
        .as_str()
        .unwrap();
    let mut names = pseudo_parameters(stack);
    names.insert(
        "PermissionsBoundaryArn".into(),
        platform_names()["PipelineRoleBoundary"].clone(),
    );
    for (id, resource) in synthesized["Resources"].as_object().unwrap() {
        let props = &resource["Properties"];
        let given = |key: &str| props[key].as_str().unwrap().to_string();
        let (name, arn) = match resource["Type"].as_str().unwrap() {
            "AWS::S3::Bucket" => {
                let name = generated_name(stack, id, 63).to_lowercase();
                (name.clone(), format!("arn:aws:s3:::{name}"))
            }
            "AWS::IAM::Role" => {
                let name = generated_name(stack, id, 64);
                (name.clone(), format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
            }
            "AWS::Events::Rule" => {
                let name = generated_name(stack, id, 64);
                let arn = format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}");
                (name, arn)
            }
            "AWS::CodeBuild::Project" => {
                let name = given("Name");
                let arn = format!("arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{name}");
                (name, arn)
            }
            "AWS::Logs::LogGroup" => {
                let name = given("LogGroupName");
                let arn = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*");
                (name, arn)
            }
            "AWS::CodePipeline::Pipeline" => {
                let name = given("Name");
                let arn = format!("arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}");
                (name, arn)
            }
            "AWS::S3::BucketPolicy" => continue,
            other => panic!(
                "{stack}: {other} is new to these checks; add what the stack role, the boundary \
                 and the API's resource-type condition need for it"
            ),
        };
        names.insert(id.clone(), name);
        names.insert(format!("{id}.Arn"), arn);
    }
    names
}

fn lookup(names: &Names, reference: &str) -> String {
    names
        .get(reference)
        .cloned()
        .unwrap_or_else(|| format!("<unresolved {reference}>"))
}

/// A `Fn::Sub` string with its references replaced; `${!` is Sub's escape for a literal `${`.
fn substitute(text: &str, names: &Names) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let end = after.find('}').expect("an unclosed ${");
        out.push_str(&lookup(names, &after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A resource or condition value as text: a string, or `Sub`/`Ref`/`GetAtt` in either the
/// YAML-tag form of template.yaml or the JSON form of a synthesized template. A reference not in
/// `names` stays visibly unresolved, so it can never match a pattern by accident.
fn resolve(value: &Value, names: &Names) -> String {
    let Value::Object(function) = value else {
        return value.as_str().expect("a string or a function").to_string();
    };
    let (name, argument) = function.iter().next().expect("an intrinsic function");
    match (name.as_str(), argument) {
        ("!Sub" | "Fn::Sub", Value::String(text)) => substitute(text, names),
        ("!Ref" | "Ref" | "!GetAtt", Value::String(reference)) => lookup(names, reference),
        ("Fn::GetAtt", Value::Array(parts)) => lookup(
            names,
            &format!(
                "{}.{}",
                parts[0].as_str().unwrap(),
                parts[1].as_str().unwrap()
            ),
        ),
        _ => panic!("cannot resolve {value}"),
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(values) => values.iter().collect(),
        one => vec![one],
    }
}

/// One policy statement with its resources resolved; the condition stays as written.
struct Statement {
    sid: String,
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Value,
}

impl Statement {
    fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|a| iam_glob_matches(a, action))
            && self.resources.iter().any(|r| iam_glob_matches(r, resource))
    }
}

fn policy_statements(document: &Value, names: &Names) -> Vec<Statement> {
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| Statement {
            sid: statement["Sid"].as_str().unwrap_or_default().to_string(),
            allow: statement["Effect"] == "Allow",
            actions: one_or_many(&statement["Action"])
                .into_iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
            resources: one_or_many(&statement["Resource"])
                .into_iter()
                .map(|r| resolve(r, names))
                .collect(),
            condition: statement.get("Condition").cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// Every statement of a role's inline policies.
fn inline_policy(role: &Value, names: &Names) -> Vec<Statement> {
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policy_statements(&policy["PolicyDocument"], names))
        .collect()
}

/// The Allow statements that would grant `action` on `resource` by Action and Resource alone;
/// the conditions that matter are checked by the tests that rely on them.
fn allowing<'a>(policy: &'a [Statement], action: &str, resource: &str) -> Vec<&'a Statement> {
    policy
        .iter()
        .filter(|s| s.allow && s.matches(action, resource))
        .collect()
}

/// Allowed by some statement and denied by none (a Deny applies whatever its condition).
fn allows(policy: &[Statement], action: &str, resource: &str) -> bool {
    !allowing(policy, action, resource).is_empty()
        && !policy
            .iter()
            .any(|s| !s.allow && s.matches(action, resource))
}

fn boundary() -> Vec<Statement> {
    let template = template();
    policy_statements(
        &properties(&template, "PipelineRoleBoundary")["PolicyDocument"],
        &platform_names(),
    )
}

fn stack_role() -> Vec<Statement> {
    inline_policy(
        &template()["Resources"]["PipelineStackRole"],
        &platform_names(),
    )
}

fn api_role() -> Vec<Statement> {
    inline_policy(
        &template()["Resources"]["ApiFunctionRole"],
        &platform_names(),
    )
}

/// Every sample pipeline's synthesized template.
fn synthesized_samples() -> Vec<(String, Value)> {
    let catalog = sample_catalog().unwrap();
    sample_pipelines()
        .unwrap()
        .into_iter()
        .map(|(name, spec)| {
            let synthesized = synthesize(&spec, &catalog)
                .unwrap_or_else(|problems| panic!("{name} does not synthesize: {problems:?}"));
            (name, synthesized.template)
        })
        .collect()
}

#[test]
fn every_permission_a_synthesized_role_holds_is_inside_the_boundary() {
    let boundary = boundary();
    for (sample, synthesized) in synthesized_samples() {
        let names = deployed_names(&synthesized);
        for (id, role) in resources_of_type(&synthesized, "AWS::IAM::Role") {
            assert_eq!(
                role["Properties"]["PermissionsBoundary"],
                json!({"Ref": "PermissionsBoundaryArn"}),
                "{sample}: {id}"
            );
            for statement in inline_policy(role, &names) {
                for action in &statement.actions {
                    for resource in &statement.resources {
                        assert!(
                            allows(&boundary, action, resource),
                            "{sample}: {id} may {action} on {resource}, beyond the boundary"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_boundary_grants_no_iam_or_sts_and_never_the_platforms_own_secrets() {
    let boundary = boundary();
    for statement in boundary.iter().filter(|s| s.allow) {
        for action in &statement.actions {
            assert!(
                !action.contains('*') && !action.starts_with("iam:") && !action.starts_with("sts:"),
                "the boundary allows {action}"
            );
        }
        assert!(
            !statement.resources.iter().any(|r| r == "*"),
            "{}: every resource",
            statement.sid
        );
    }
    let secret = |name: &str| format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}");
    for platforms in [
        "pipeline-builder/api-signing-keys-0a1b2c3d-4e5f-AbC123",
        "pipeline-builder/acme/platform-AbC123",
    ] {
        assert!(
            !allows(
                &boundary,
                "secretsmanager:GetSecretValue",
                &secret(platforms)
            ),
            "a pipeline role could read {platforms}"
        );
    }
    for steps in [
        "team/npm-token-AbC123",
        "pipeline-builder/acme/npm-token-AbC123",
    ] {
        assert!(allows(
            &boundary,
            "secretsmanager:GetSecretValue",
            &secret(steps)
        ));
    }
    let staged_template = format!("{}/t.json", platform_names()["PipelineTemplateBucket.Arn"]);
    for action in ["s3:GetObject", "s3:PutObject"] {
        assert!(
            !allows(&boundary, action, &staged_template),
            "a pipeline role may {action} on another org's staged template"
        );
    }
}

/// What CloudFormation calls to create, update and delete a resource of `kind` as synthesized
/// (the handlers' permission lists in its resource schema), all on the resource's own ARN.
fn lifecycle_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "AWS::S3::Bucket" => &[
            "s3:CreateBucket",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketTagging",
            "s3:GetBucketTagging",
            "s3:ListBucket",
            "s3:DeleteBucket",
        ],
        "AWS::S3::BucketPolicy" => &[
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
        ],
        "AWS::IAM::Role" => &[
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:DeleteRolePolicy",
            "iam:DeleteRole",
        ],
        "AWS::CodeBuild::Project" => &[
            "codebuild:CreateProject",
            "codebuild:UpdateProject",
            "codebuild:BatchGetProjects",
            "codebuild:DeleteProject",
        ],
        "AWS::Logs::LogGroup" => &[
            "logs:CreateLogGroup",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
            "logs:UntagResource",
            "logs:DeleteLogGroup",
        ],
        "AWS::CodePipeline::Pipeline" => &[
            "codepipeline:CreatePipeline",
            "codepipeline:GetPipeline",
            "codepipeline:GetPipelineState",
            "codepipeline:TagResource",
            "codepipeline:UpdatePipeline",
            "codepipeline:UntagResource",
            "codepipeline:DeletePipeline",
        ],
        "AWS::Events::Rule" => &[
            "events:PutRule",
            "events:DescribeRule",
            "events:PutTargets",
            "events:TagResource",
            "events:RemoveTargets",
            "events:ListTargetsByRule",
            "events:DeleteRule",
        ],
        other => panic!("{other} is new to these checks"),
    }
}

/// The roles a resource hands to a service, with that service.
fn passed_roles(resource: &Value, names: &Names) -> Vec<(String, &'static str)> {
    let props = &resource["Properties"];
    match resource["Type"].as_str().unwrap() {
        "AWS::CodeBuild::Project" => vec![(
            resolve(&props["ServiceRole"], names),
            "codebuild.amazonaws.com",
        )],
        "AWS::CodePipeline::Pipeline" => vec![(
            resolve(&props["RoleArn"], names),
            "codepipeline.amazonaws.com",
        )],
        "AWS::Events::Rule" => props["Targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (resolve(&t["RoleArn"], names), "events.amazonaws.com"))
            .collect(),
        _ => Vec::new(),
    }
}

fn services_passed_to(statement: &Statement) -> Vec<String> {
    one_or_many(&statement.condition["StringEquals"]["iam:PassedToService"])
        .into_iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_stack_role_can_create_update_and_delete_every_resource_a_synthesized_stack_holds() {
    let role = stack_role();
    for (sample, synthesized) in synthesized_samples() {
        let names = deployed_names(&synthesized);
        for (id, resource) in synthesized["Resources"].as_object().unwrap() {
            let kind = resource["Type"].as_str().unwrap();
            let arn = match kind {
                "AWS::S3::BucketPolicy" => resolve(
                    &json!({"Fn::GetAtt": [resource["Properties"]["Bucket"]["Ref"], "Arn"]}),
                    &names,
                ),
                "AWS::Logs::LogGroup" => names[&format!("{id}.Arn")]
                    .trim_end_matches(":*")
                    .to_string(),
                _ => names[&format!("{id}.Arn")].clone(),
            };
            for action in lifecycle_actions(kind) {
                assert!(
                    allows(&role, action, &arn),
                    "{sample}: the stack role cannot {action} on {arn} ({id})"
                );
            }
            for (passed, service) in passed_roles(resource, &names) {
                let grants = allowing(&role, "iam:PassRole", &passed);
                assert!(
                    grants
                        .iter()
                        .any(|s| services_passed_to(s).iter().any(|s| s == service)),
                    "{sample}: the stack role cannot pass {passed} to {service} ({id})"
                );
            }
            let connection = resource["Properties"]["Stages"][0]["Actions"][0]["Configuration"]
                ["ConnectionArn"]
                .as_str();
            if let Some(connection) = connection {
                let service = connection.split(':').nth(2).unwrap();
                assert!(
                    allows(&role, &format!("{service}:PassConnection"), connection),
                    "{sample}: the stack role cannot pass {connection} to the pipeline"
                );
            }
        }
    }
    let log_groups = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group::log-stream:");
    assert!(allows(&role, "logs:DescribeLogGroups", &log_groups));
}

#[test]
fn the_stack_role_is_no_administrator_in_disguise() {
    let template = template();
    let trust = &properties(&template, "PipelineStackRole")["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"],
        json!([{
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"!Ref": "AWS::AccountId"}}},
        }])
    );
    let role = stack_role();
    for statement in role.iter().filter(|s| s.allow) {
        for action in &statement.actions {
            assert!(!action.contains('*'), "the stack role allows {action}");
        }
        for resource in &statement.resources {
            assert_ne!(resource, "*", "{}: every resource", statement.sid);
            let scoped = resource.contains(":pb-") || resource.contains("/pb-");
            assert!(
                scoped
                    || ["FindLogGroups", "PassSourceConnections"].contains(&statement.sid.as_str()),
                "{}: {resource} is not limited to the platform's pb- names",
                statement.sid
            );
        }
    }
    let pipeline_role = format!("arn:aws:iam::{ACCOUNT}:role/pb-acme-x-PipelineRole-1A2B3C");
    let boundary_condition =
        json!({"StringEquals": {"iam:PermissionsBoundary": {"!Ref": "PipelineRoleBoundary"}}});
    for action in [
        "iam:CreateRole",
        "iam:PutRolePermissionsBoundary",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ] {
        let grants = allowing(&role, action, &pipeline_role);
        assert!(!grants.is_empty(), "the stack role cannot {action}");
        for grant in grants {
            assert_eq!(
                grant.condition, boundary_condition,
                "{action} without the boundary"
            );
        }
    }
    for never in [
        "iam:DeleteRolePermissionsBoundary",
        "iam:UpdateAssumeRolePolicy",
        "iam:AttachRolePolicy",
        "iam:CreatePolicy",
        "iam:CreateUser",
        "sts:AssumeRole",
    ] {
        assert!(
            !allows(&role, never, &pipeline_role),
            "the stack role may {never}"
        );
    }
    let denies_boundary_removal = role.iter().any(|s| {
        !s.allow
            && s.actions == ["iam:DeleteRolePermissionsBoundary"]
            && s.resources == ["*"]
            && s.condition.is_null()
    });
    assert!(denies_boundary_removal);
    for statement in allowing(&role, "iam:PassRole", &pipeline_role) {
        let mut services = services_passed_to(statement);
        services.sort();
        assert_eq!(
            services,
            [
                "codebuild.amazonaws.com",
                "codepipeline.amazonaws.com",
                "events.amazonaws.com"
            ]
        );
    }
    let platform_role =
        format!("arn:aws:iam::{ACCOUNT}:role/pipeline-builder-ApiFunctionRole-1A2B3C");
    assert!(!allows(&role, "iam:PassRole", &platform_role));
    let staged = platform_names()["PipelineTemplateBucket.Arn"].clone();
    assert!(!allows(&role, "s3:PutBucketPolicy", &staged));
}

#[test]
fn the_api_role_deploys_only_pb_stacks_and_only_through_the_stack_role() {
    let template = template();
    let api = api_role();
    let stack = |name: &str| {
        format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0a1b2c3d-4e5f-11ef-9a8b-0a1b2c3d4e5f")
    };
    let statements = properties(&template, "ApiFunctionRole")["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let stack_role_arn = json!({"!GetAtt": "PipelineStackRole.Arn"});
    for statement in statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("cloudformation:"))
    {
        assert_eq!(statement["Resource"], json!({"!Sub": PIPELINE_STACKS}));
        for action in one_or_many(&statement["Action"]) {
            let action = action.as_str().unwrap();
            let changes_stack = matches!(
                action,
                "cloudformation:CreateStack"
                    | "cloudformation:UpdateStack"
                    | "cloudformation:DeleteStack"
                    | "cloudformation:CreateChangeSet"
            );
            if changes_stack {
                assert_eq!(
                    statement["Condition"]["StringEquals"]["cloudformation:RoleArn"],
                    stack_role_arn,
                    "{action} without the stack role"
                );
            }
            assert!(allows(&api, action, &stack("pb-acme-payments-service")));
            for foreign in ["pipeline-builder", "other-team-app", "pbx-acme"] {
                assert!(
                    !allows(&api, action, &stack(foreign)),
                    "the API may {action} on {foreign}"
                );
            }
        }
    }
    let pass = role_statement(&template, "ApiFunctionRole", "PassPipelineStackRole");
    assert_eq!(pass["Resource"], stack_role_arn);
    assert_eq!(
        pass["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}})
    );
    let passable: Vec<&Statement> = api
        .iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|a| iam_glob_matches(a, "iam:PassRole"))
        })
        .collect();
    assert_eq!(passable.len(), 1, "the API may pass another role");
    let staged = platform_names()["PipelineTemplateBucket.Arn"].clone();
    for statement in api
        .iter()
        .filter(|s| s.actions.iter().any(|a| a.starts_with("s3:")))
    {
        assert_eq!(
            statement.resources,
            [format!("{staged}/*")],
            "{}",
            statement.sid
        );
    }
    let deploy = role_statement(&template, "ApiFunctionRole", "DeployPipelineStacks");
    let types = &deploy["Condition"]["ForAllValues:StringEquals"]["cloudformation:ResourceTypes"];
    for (sample, synthesized) in synthesized_samples() {
        for resource in synthesized["Resources"].as_object().unwrap().values() {
            assert!(
                types.as_array().unwrap().contains(&resource["Type"]),
                "{sample}: the API may not deploy a {}",
                resource["Type"]
            );
        }
    }
}

#[test]
fn stack_status_events_of_pb_stacks_reach_the_ingest_queue() {
    let template = template();
    let rule = properties(&template, "CloudFormationStackEventsRule");
    let prefix = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/pb-";
    assert_eq!(
        rule["EventPattern"],
        json!({
            "source": ["aws.cloudformation"],
            "detail-type": ["CloudFormation Stack Status Change"],
            "resources": [{"prefix": {"!Sub": prefix}}],
        })
    );
    assert!(
        rule.get("EventBusName").is_none(),
        "AWS service events arrive on the default bus"
    );
    assert_eq!(
        rule["Targets"],
        json!([{"Id": "IngestQueue", "Arn": {"!GetAtt": "IngestQueue.Arn"}}])
    );
    let prefix = substitute(prefix, &pseudo_parameters(PLATFORM_STACK));
    let stack = |name: &str| format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0a1b");
    assert!(stack("pb-acme-payments-service").starts_with(&prefix));
    assert!(!stack("pipeline-builder").starts_with(&prefix));
    let queue_policy = &properties(&template, "IngestQueuePolicy")["PolicyDocument"]["Statement"];
    let sends = queue_policy
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "AllowCloudFormationStackEventsRule")
        .expect("the queue policy lets the rule send");
    assert_eq!(
        sends["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(sends["Action"], "sqs:SendMessage");
    assert_eq!(
        sends["Condition"],
        json!({"ArnEquals": {"aws:SourceArn": {"!GetAtt": "CloudFormationStackEventsRule.Arn"}}})
    );
}

#[test]
fn the_api_knows_the_stack_role_the_boundary_and_the_template_bucket() {
    let template = template();
    let variables = &properties(&template, "ApiFunction")["Environment"]["Variables"];
    for (variable, output, value) in [
        (
            "PIPELINE_STACK_ROLE_ARN",
            "PipelineStackRoleArn",
            json!({"!GetAtt": "PipelineStackRole.Arn"}),
        ),
        (
            "PIPELINE_ROLE_BOUNDARY_ARN",
            "PipelineRoleBoundaryArn",
            json!({"!Ref": "PipelineRoleBoundary"}),
        ),
        (
            "PIPELINE_TEMPLATE_BUCKET",
            "PipelineTemplateBucketName",
            json!({"!Ref": "PipelineTemplateBucket"}),
        ),
    ] {
        assert_eq!(variables[variable], value, "{variable}");
        assert_eq!(template["Outputs"][output]["Value"], value, "{output}");
    }
}

#[test]
fn staged_templates_are_private_encrypted_and_gone_within_a_week() {
    let template = template();
    let resource = &template["Resources"]["PipelineTemplateBucket"];
    // Like the tables: a bucket still holding objects cannot be deleted by CloudFormation.
    assert_eq!(resource["DeletionPolicy"], "Retain");
    assert_eq!(resource["UpdateReplacePolicy"], "Retain");
    let bucket = &resource["Properties"];
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block], true,
            "{block}"
        );
    }
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(rule["ExpirationInDays"], 7);
    assert_eq!(rule["NoncurrentVersionExpiration"]["NoncurrentDays"], 1);
    let policy = properties(&template, "PipelineTemplateBucketPolicy");
    assert_eq!(policy["Bucket"], json!({"!Ref": "PipelineTemplateBucket"}));
    let tls = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(
        tls["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
}

#[test]
fn the_notify_rule_routes_exactly_the_subscribable_platform_events_to_its_queue() {
    let template = template();
    let rule = properties(&template, "NotifyEventsRule");
    assert_eq!(rule["EventPattern"], notify_event_pattern());
    assert_eq!(rule["EventBusName"], json!({"!Ref": "PlatformEventBus"}));
    assert_eq!(
        rule["Targets"],
        json!([{"Id": "NotifyQueue", "Arn": {"!GetAtt": "NotifyQueue.Arn"}}])
    );
    let policy = properties(&template, "NotifyQueuePolicy")["PolicyDocument"]["Statement"].clone();
    let allowed: Vec<&Value> = policy
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(
        allowed.len(),
        1,
        "only the rule may send to the notify queue"
    );
    assert_eq!(
        allowed[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"!GetAtt": "NotifyEventsRule.Arn"})
    );
}

#[test]
fn the_notify_function_follows_its_queue_settings_and_gets_its_configuration() {
    let template = template();
    let function = properties(&template, "NotifyFunction");
    assert_eq!(function["Timeout"], NOTIFY_FUNCTION_TIMEOUT_SECONDS);
    assert_eq!(
        template["Resources"]["NotifyFunction"]["Metadata"]["BuildMethod"],
        "rust-cargolambda"
    );
    let source = &function["Events"]["NotifyQueueEvent"]["Properties"];
    assert_eq!(source["Queue"], json!({"!GetAtt": "NotifyQueue.Arn"}));
    assert_eq!(source["BatchSize"], NOTIFY_BATCH_SIZE);
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let reserved = function["ReservedConcurrentExecutions"].as_i64().unwrap();
    assert!((1..=10).contains(&reserved), "{reserved}");
    assert!(
        source["ScalingConfig"]["MaximumConcurrency"]
            .as_i64()
            .unwrap()
            <= reserved
    );
    assert_eq!(
        NotifyConfig::from_lookup(variables_lookup(&template, "NotifyFunction")).err(),
        None
    );
    let variables = &function["Environment"]["Variables"];
    assert_eq!(
        variables["NOTIFY_QUEUE_URL"],
        json!({"!Ref": "NotifyQueue"})
    );
    assert_eq!(
        variables["DLQ_URL"],
        json!({"!Ref": "NotifyDeadLetterQueue"})
    );
    for output in ["NotifyQueueUrl", "NotifyDeadLetterQueueUrl"] {
        assert!(
            template["Outputs"][output]["Export"].is_object(),
            "{output}"
        );
    }
    let dead_letters = json!({"!GetAtt": "NotifyDeadLetterQueue.QueueName"});
    alarm_on(
        &template,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &dead_letters,
    );
}

#[test]
fn the_notify_role_grants_only_what_notify_calls() {
    let template = template();
    let statements = role_statements(&template, "NotifyFunction");
    let actions: Vec<String> = statements.iter().flat_map(|(a, _)| a.clone()).collect();
    let mut granted: Vec<&str> = actions.iter().map(String::as_str).collect();
    granted.sort_unstable();
    granted.dedup();
    assert_eq!(
        granted,
        [
            "dynamodb:GetItem",
            "dynamodb:Query",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "secretsmanager:GetSecretValue",
            "sns:Publish",
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:SendMessage",
        ]
    );
    let catalog = role_statement(
        &template,
        "NotifyFunctionRole",
        "ReadSubscriptionsAndPipelines",
    );
    assert_eq!(catalog["Resource"], json!({"!GetAtt": "CatalogTable.Arn"}));
    assert_eq!(
        catalog["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["ORG#*"])
    );
    let secrets = role_statement(&template, "NotifyFunctionRole", "ReadWebhookSecrets");
    let pattern = secrets["Resource"]["!Sub"].as_str().unwrap().replace(
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}",
        "STACK",
    );
    assert!(iam_glob_matches(
        &pattern,
        "STACK/acme/webhooks/sub-1-AbCdEf"
    ));
    assert!(!iam_glob_matches(&pattern, "STACK/acme/platform-AbCdEf"));
    assert!(!iam_glob_matches(&pattern, "STACK/api-signing-keys-AbCdEf"));
    let topics = role_statement(&template, "NotifyFunctionRole", "PublishToSubscribedTopics");
    assert_eq!(
        topics["Resource"],
        json!({"!Sub": "arn:${AWS::Partition}:sns:*:${AWS::AccountId}:*"})
    );
    for (_, resource) in &statements {
        assert_ne!(resource, "\"*\"", "a notify statement on every resource");
    }
}

#[test]
fn pipeline_roles_can_never_read_webhook_secrets() {
    let template = template();
    let denied = properties(&template, "PipelineRoleBoundary")["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "NeverThePlatformsSecrets")
        .unwrap()
        .clone();
    assert_eq!(denied["Effect"], "Deny");
    assert!(
        denied["Resource"]
            .to_string()
            .contains("${AWS::StackName}/*/webhooks/*"),
        "{denied}"
    );
}
