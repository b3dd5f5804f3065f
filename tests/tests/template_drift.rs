//! template.yaml and the local resource definitions (used by `make dev` and every test) must
//! describe the same tables, queues and rule; this fails as soon as they drift.

use pb_aws::config::{ApiConfig, IngestConfig, LookupConfig};
use pb_tests::resources::{
    codepipeline_event_pattern, QueueDef, TableDef, CATALOG_TABLE, EXECUTIONS_TABLE,
    INGEST_BATCHING_WINDOW_SECONDS, INGEST_BATCH_SIZE, INGEST_DEAD_LETTER_QUEUE,
    INGEST_FUNCTION_TIMEOUT_SECONDS, INGEST_QUEUE,
};
use pb_tests::yaml::repo_yaml;
use serde_json::{json, Value};

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

fn key_schema(hash: &str, range: &str) -> Value {
    json!([{"AttributeName": hash, "KeyType": "HASH"}, {"AttributeName": range, "KeyType": "RANGE"}])
}

fn assert_table_matches(template: &Value, def: &TableDef) {
    let props = properties(template, def.logical_id);
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
    let mut expected_attributes = vec![def.hash, def.range];
    expected_attributes.extend(def.indexes.iter().flat_map(|i| [i.hash, i.range]));
    let expected_attributes: Vec<Value> = expected_attributes
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
        .map(|i| json!({"IndexName": i.name, "KeySchema": key_schema(i.hash, i.range), "Projection": {"ProjectionType": "ALL"}}))
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
fn queues_match_the_local_definitions() {
    let template = template();
    assert_queue_matches(&template, &INGEST_QUEUE);
    assert_queue_matches(&template, &INGEST_DEAD_LETTER_QUEUE);
    assert_eq!(
        properties(&template, "IngestQueue")["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"!GetAtt": "IngestDeadLetterQueue.Arn"})
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
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Timeout"], INGEST_FUNCTION_TIMEOUT_SECONDS);
    assert_eq!(function["Architectures"], json!([{"!Ref": "Architecture"}]));
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
        "DeleteItem",
        "Scan",
    ] {
        assert!(
            !policies.contains(broad),
            "IngestFunctionRole policy grants {broad}"
        );
    }
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
fn the_api_role_reads_its_key_set_and_writes_only_platform_token_secrets() {
    let template = template();
    let statements = role_statements(&template, "ApiFunction");
    for (actions, resource) in &statements {
        for action in actions {
            assert!(!action.contains('*'), "ApiFunctionRole grants {action}");
            if action.starts_with("secretsmanager:") {
                let expected = if action == "secretsmanager:GetSecretValue" {
                    json!({"!Ref": "ApiKeySet"}).to_string()
                } else {
                    "${AWS::StackName}/*/platform-??????".to_string()
                };
                assert!(resource.contains(&expected), "{action} on {resource}");
            }
            if action.starts_with("dynamodb:") && resource.contains("ExecutionsTable") {
                assert!(
                    matches!(action.as_str(), "dynamodb:Query" | "dynamodb:GetItem"),
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
    ] {
        assert!(actions.contains(&needed), "ApiFunctionRole lacks {needed}");
    }
    assert!(!actions
        .iter()
        .any(|a| a.contains("Scan") || a.contains("DeleteSecret")));
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
            "dynamodb:PutItem",
            "events:PutEvents",
        ]
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
        "CATALOG_TABLE" | "EXECUTIONS_TABLE" | "KEY_SET_SECRET_ID" => Some("set".into()),
        _ => None,
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
