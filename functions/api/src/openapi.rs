//! The OpenAPI document's frame ([`ApiDoc`]) and what the handlers' annotations cannot say
//! (the modifiers [`crate::endpoints::document`] applies).

use serde_json::{json, Value};
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use pb_domain::compliance::{
    rule_spec_schema, MAX_ENTITY_CHARS, MAX_INLINE_RULES, MAX_REASON_CHARS,
};
use pb_domain::control::{
    MAX_REASON_CHARS as STOP_REASON_CHARS, MAX_REVISION_CHARS, MAX_SUMMARY_CHARS,
};
use pb_domain::event::MAX_NAME_CHARS as MAX_CODEPIPELINE_NAME_CHARS;
use pb_domain::notify::{
    MAX_NAME_CHARS as MAX_SUBSCRIPTION_NAME_CHARS, MAX_OUTCOMES, MAX_SECRET_CHARS, MAX_URL_CHARS,
    MIN_SECRET_CHARS,
};
use pb_domain::pipeline::{
    MAX_DESCRIPTION_CHARS as PIPELINE_DESCRIPTION_CHARS, MAX_KEY_CHARS as PIPELINE_KEY_CHARS,
    MAX_MAP_ENTRIES as PIPELINE_MAP_ENTRIES, MAX_NAME_CHARS as PIPELINE_NAME_CHARS,
    MAX_PIPELINE_VARIABLES, MAX_PROJECT_CHARS as PIPELINE_PROJECT_CHARS, MAX_STAGES,
    MAX_STEPS_PER_STAGE, MAX_STEP_INPUTS, MAX_TAGS,
    MAX_TAG_VALUE_CHARS as PIPELINE_TAG_VALUE_CHARS,
    MAX_TIMEOUT_MINUTES as PIPELINE_MAX_TIMEOUT_MINUTES, MAX_VALUE_BYTES as PIPELINE_VALUE_BYTES,
    MAX_VARIABLE_DESCRIPTION_CHARS, MAX_VARIABLE_NAME_CHARS, MAX_VARIABLE_VALUE_CHARS,
    MIN_TIMEOUT_MINUTES as PIPELINE_MIN_TIMEOUT_MINUTES,
};
use pb_domain::plugin::{
    ENV_NAME_PATTERN, IMAGE_PATTERN, LIMITS, MAX_LOOKUP_REFERENCES, METADATA_KEY_PATTERN,
    OUTPUT_DIRECTORY_PATTERN, SECRET_NAME_PATTERN, VERSION_PATTERN,
};
use pb_domain::plugin::{MAX_RANGE_CHARS, VERSION_RANGE_PATTERN};
use pb_domain::reports::{DATE_OR_INSTANT_PATTERN, INSTANT_PATTERN};

use crate::paging::MAX_PAGE_SIZE;
use crate::params::MAX_PATH_PARAM_BYTES;
use crate::problem::PROBLEM_JSON;
use crate::routes::executions::{MAX_BRANCH_CHARS, STATUS_PATTERN};
use crate::routes::plugins::MAX_DEPRECATION_MESSAGE_CHARS;
use crate::routes::registry::{MAX_PIPELINE_ID_CHARS, MAX_STACK_NAME_CHARS};
use crate::routes::runs::{EXECUTION_ID_PATTERN, MAX_STAGE_OR_ACTION_CHARS};
use crate::routes::templates::{JSON, YAML};
use crate::routes::tokens::{
    MAX_SCOPE_CHARS, MAX_TOKEN_PERMISSIONS, PERMISSION_PATTERN, PLATFORM_PERMS, PLATFORM_SCOPE,
};
use crate::tokens::MAX_LIFETIME_DAYS;

#[derive(OpenApi)]
#[openapi(info(
    title = "pipeline-builder API",
    description = "Plugins, pipelines, compliance, registry, reports and audit results. \
            Every route except /health and /openapi.json needs `Authorization: Bearer <JWT>` \
            and the permission it names; errors are RFC 9457 problem documents."
))]
pub struct ApiDoc;

pub(crate) struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Error answers as the API really sends them: `application/problem+json`, on every status a
/// route can answer, including those the shared extractors and middleware produce (so a client
/// generated from the document, or a schema checker, sees no undocumented status).
pub(crate) struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for operation in operations_mut(item) {
                problems_as_problem_json(operation);
                add_shared_problems(operation, has_path_params);
            }
        }
    }
}

/// The operations of the methods the API serves.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn problems_as_problem_json(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (false, RefOr::T(response)) = (status.starts_with('2'), response) {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert(PROBLEM_JSON.to_string(), content);
            }
        }
    }
}

fn add_shared_problems(operation: &mut Operation, has_path_params: bool) {
    let authenticated = operation.security.is_some();
    let has_body = operation.request_body.is_some();
    let shared = [
        (
            authenticated,
            "400",
            "A parameter is malformed, unknown or out of range",
        ),
        (
            authenticated,
            "401",
            "Missing, malformed, expired or revoked bearer token",
        ),
        (
            authenticated,
            "403",
            "The token lacks the permission this route requires",
        ),
        (
            has_path_params && authenticated,
            "404",
            "No such resource in the caller's org",
        ),
        (has_body, "413", "The body exceeds the size limit"),
        (has_body, "415", "The body's Content-Type is not accepted"),
        (
            authenticated,
            "500",
            "Internal error; the problem carries the request id",
        ),
        (
            authenticated,
            "503",
            "AWS throttled or was unavailable; retry with backoff",
        ),
    ];
    for (applies, status, description) in shared {
        if applies && !operation.responses.responses.contains_key(status) {
            operation
                .responses
                .responses
                .insert(status.to_string(), RefOr::T(problem_response(description)));
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// The bounds the shared extractors enforce, stated on every parameter they apply to, so a
/// request that satisfies the document is never refused for them.
pub(crate) struct ParameterLimits;

impl Modify for ParameterLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    limit_parameter(parameter);
                }
            }
        }
    }
}

fn limit_parameter(parameter: &mut Parameter) {
    if let Some(description) = parameter_description(&parameter.parameter_in, &parameter.name) {
        parameter.description = Some(description.into());
    }
    let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
        return;
    };
    match (&parameter.parameter_in, parameter.name.as_str()) {
        (ParameterIn::Path, name) => {
            schema.min_length = Some(1);
            schema.max_length = Some(MAX_PATH_PARAM_BYTES);
            schema.pattern = Some(match name {
                "version" => VERSION_PATTERN.into(),
                "executionId" => EXECUTION_ID_PATTERN.into(),
                "stage" | "action" => {
                    schema.max_length = Some(MAX_STAGE_OR_ACTION_CHARS);
                    CODEPIPELINE_NAME_PATTERN.into()
                }
                _ => "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$".into(),
            });
        }
        (ParameterIn::Query, "branch") => {
            schema.min_length = Some(1);
            schema.max_length = Some(MAX_BRANCH_CHARS);
            schema.pattern = Some("^[^\\u0000-\\u001f\\u007f-\\u009f]+$".into());
        }
        (ParameterIn::Query, "project") => {
            schema.min_length = Some(1);
            schema.max_length = Some(PIPELINE_PROJECT_CHARS);
            schema.pattern = Some("^[A-Za-z0-9.@_-]+$".into());
        }
        (ParameterIn::Query, "limit") => {
            schema.minimum = Some(1.into());
            schema.maximum = Some(MAX_PAGE_SIZE.into());
        }
        (ParameterIn::Query, "from" | "to") => {
            schema.pattern = Some(DATE_OR_INSTANT_PATTERN.into());
        }
        (ParameterIn::Query, "status") if schema.enum_values.is_none() => {
            schema.pattern = Some(STATUS_PATTERN.into());
        }
        (ParameterIn::Query, "interval") => {
            schema.enum_values = Some(["day", "week", "month"].map(Into::into).into());
        }
        (ParameterIn::Header, "Accept") => {
            schema.enum_values = Some([JSON, YAML].map(Into::into).into());
        }
        _ => {}
    }
}

/// Values no schema can describe: they must come from an earlier response.
fn parameter_description(location: &ParameterIn, name: &str) -> Option<&'static str> {
    match (location, name) {
        (ParameterIn::Query, "cursor") => Some(
            "`nextCursor` of the previous page of this same query; any other value answers 400 \
             invalid_cursor (cursors are signed and bound to the query)",
        ),
        (ParameterIn::Header, "Accept") => Some(
            "The template's format: JSON unless YAML is preferred (a list with quality values, \
             `*/*`, `application/*`, `text/yaml` and `application/x-yaml` are understood too; \
             naming neither format answers 406)",
        ),
        (ParameterIn::Header, "If-Match") => Some(
            "The `ETag` of the latest response for this resource; a value naming another \
             version answers 412",
        ),
        _ => None,
    }
}

/// The limits the request validators enforce, stated on the request schemas from the same
/// constants, so the document cannot drift from them and a generator stays inside them.
pub(crate) struct BodyLimits;

/// Schema, property, minimum and maximum length, pattern.
type TextLimit<'a> = (&'a str, &'a str, usize, usize, Option<&'a str>);
/// Schema, property, minimum and maximum item count.
type CountLimit<'a> = (&'a str, &'a str, usize, usize);

impl Modify for BodyLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let texts: [TextLimit; 19] = [
            (
                "PluginSpec",
                "name",
                1,
                LIMITS.name_chars,
                Some(PLUGIN_NAME_PATTERN),
            ),
            (
                "PluginSpec",
                "description",
                0,
                LIMITS.description_chars,
                None,
            ),
            (
                "PluginSpec",
                "category",
                1,
                LIMITS.category_chars,
                Some("\\S"),
            ),
            ("PluginSpec", "image", 1, LIMITS.image_chars, None),
            (
                "PluginSpec",
                "primaryOutputDirectory",
                1,
                LIMITS.output_directory_chars,
                None,
            ),
            (
                "StatusPatch",
                "deprecationMessage",
                0,
                MAX_DEPRECATION_MESSAGE_CHARS,
                None,
            ),
            (
                "TokenRequest",
                "scope",
                1,
                MAX_SCOPE_CHARS,
                Some("^[A-Za-z0-9:._-]+$"),
            ),
            (
                "RegistryWriteRequest",
                "pipelineId",
                1,
                MAX_PIPELINE_ID_CHARS,
                Some("^[A-Za-z0-9_-]+$"),
            ),
            (
                "RegistryWriteRequest",
                "pipelineName",
                1,
                MAX_CODEPIPELINE_NAME_CHARS,
                Some("^[A-Za-z0-9.@_-]+$"),
            ),
            (
                "RegistryWriteRequest",
                "stackName",
                1,
                MAX_STACK_NAME_CHARS,
                Some("^[A-Za-z][A-Za-z0-9-]*$"),
            ),
            (
                "SecretRef",
                "name",
                1,
                LIMITS.secret_name_chars,
                Some(SECRET_NAME_PATTERN),
            ),
            (
                "RequestedPlugin",
                "name",
                1,
                LIMITS.name_chars,
                Some(PLUGIN_NAME_PATTERN),
            ),
            (
                "RequestedPlugin",
                "version",
                1,
                MAX_RANGE_CHARS,
                Some(VERSION_RANGE_PATTERN),
            ),
            (
                "PipelineVariable",
                "name",
                1,
                MAX_VARIABLE_NAME_CHARS,
                Some("^[A-Za-z0-9@_-]+$"),
            ),
            (
                "PipelineVariable",
                "defaultValue",
                0,
                MAX_VARIABLE_VALUE_CHARS,
                None,
            ),
            (
                "PipelineVariable",
                "description",
                0,
                MAX_VARIABLE_DESCRIPTION_CHARS,
                None,
            ),
            (
                "RevisionOverride",
                "value",
                1,
                MAX_REVISION_CHARS,
                Some("^[^\\x00-\\x1f\\x7f-\\x9f]+$"),
            ),
            (
                "StopRequest",
                "reason",
                0,
                STOP_REASON_CHARS,
                Some("^[^\\x00-\\x1f\\x7f-\\x9f]*$"),
            ),
            (
                "ApprovalRequest",
                "summary",
                1,
                MAX_SUMMARY_CHARS,
                Some("\\S"),
            ),
        ];
        for (schema, name, min, max, pattern) in texts {
            limit_text(property(components, schema, name), min, max, pattern);
        }
        let lists: [CountLimit; 8] = [
            ("PluginSpec", "keywords", 0, LIMITS.keywords),
            ("PluginSpec", "installCommands", 0, LIMITS.commands),
            ("PluginSpec", "commands", 0, LIMITS.commands),
            ("PluginSpec", "secrets", 0, LIMITS.secrets),
            (
                "PluginSpec",
                "requiredMetadata",
                0,
                LIMITS.required_metadata,
            ),
            ("LookupRequest", "plugins", 1, MAX_LOOKUP_REFERENCES),
            ("TokenRequest", "perms", 1, MAX_TOKEN_PERMISSIONS),
            (
                "PipelineSpec",
                "pipelineVariables",
                0,
                MAX_PIPELINE_VARIABLES,
            ),
        ];
        for (schema, name, min, max) in lists {
            limit_items(property(components, schema, name), min, max);
        }
        let numbers: [(&str, &str, u32, u32); 2] = [
            (
                "PluginSpec",
                "timeoutMinutes",
                LIMITS.min_timeout_minutes,
                LIMITS.max_timeout_minutes,
            ),
            ("TokenRequest", "expiresInDays", 1, MAX_LIFETIME_DAYS),
        ];
        for (schema, name, min, max) in numbers {
            limit_number(property(components, schema, name), min, max);
        }
        // After the limits: some edits copy a schema's properties into `oneOf` variants.
        edit_schema(components, "PluginSpec", plugin_spec_elements);
        edit_schema(components, "PluginSpec", plugin_spec_kinds);
        edit_schema(components, "ExemptionRequest", exemption_fields);
        edit_schema(components, "SourceSpec", closed_variants);
        edit_schema(components, "SourceSpec", source_kinds);
        edit_schema(components, "ChannelRequest", closed_variants);
        edit_schema(components, "ChannelRequest", channel_limits);
        edit_schema(components, "SubscriptionRequest", subscription_limits);
        edit_schema(components, "PipelineSpec", pipeline_fields);
        edit_schema(components, "StageSpec", stage_fields);
        edit_schema(components, "StepSpec", step_fields);
        edit_schema(components, "StatusPatch", at_least_one_flag);
        edit_schema(components, "TokenRequest", mint_or_store);
        edit_schema(components, "ValidateRequest", inline_rules);
        edit_schema(components, "ValidateRequest", pipeline_or_plugin);
        edit_schema(components, "RuleSpec", |spec| *spec = rule_spec_schema());
    }
}

/// Rewrites one component schema as JSON, for what utoipa's attributes cannot say (`oneOf`
/// variants, at least one property).
fn edit_schema(
    components: &mut utoipa::openapi::Components,
    name: &str,
    edit: impl FnOnce(&mut Value),
) {
    let Some(RefOr::T(schema)) = components.schemas.get_mut(name) else {
        return;
    };
    let Ok(mut value) = serde_json::to_value(&*schema) else {
        return;
    };
    edit(&mut value);
    if let Ok(edited) = serde_json::from_value(value) {
        *schema = edited;
    }
}

/// What each keyword, command, variable and metadata key of a plugin spec must look like.
/// Commands and env values are limited in bytes, stated as the characters that always fit.
fn plugin_spec_elements(spec: &mut Value) {
    let properties = &mut spec["properties"];
    let non_blank =
        |max_chars: usize| json!({ "type": "string", "pattern": "\\S", "maxLength": max_chars });
    properties["keywords"]["items"] = non_blank(LIMITS.keyword_chars);
    properties["installCommands"]["items"] = non_blank(LIMITS.command_bytes / 4);
    properties["commands"]["items"] = non_blank(LIMITS.command_bytes / 4);
    properties["requiredMetadata"]["items"] =
        json!({ "type": "string", "pattern": METADATA_KEY_PATTERN });
    properties["env"]["maxProperties"] = LIMITS.env_vars.into();
    properties["env"]["propertyNames"] = json!({
        "type": "string",
        "pattern": ENV_NAME_PATTERN,
        "maxLength": LIMITS.env_name_chars,
    });
    properties["env"]["additionalProperties"] =
        json!({ "type": "string", "maxLength": LIMITS.env_value_bytes / 4 });
    // JSON Schema cannot say "unique by name"; whole-item uniqueness is the closest it comes.
    properties["secrets"]["uniqueItems"] = true.into();
    properties["secrets"]["description"] = "Each secret name at most once.".into();
    properties["version"]["pattern"] = VERSION_PATTERN.into();
    properties["image"]["pattern"] = IMAGE_PATTERN.into();
    properties["primaryOutputDirectory"]["pattern"] = OUTPUT_DIRECTORY_PATTERN.into();
}

/// A step that runs commands names an image and at least one command; a manual approval runs
/// nothing, so it carries no image, commands, env, secrets or output directory.
fn plugin_spec_kinds(spec: &mut Value) {
    let mut runs = spec.clone();
    runs["properties"]["pluginType"] =
        json!({ "type": "string", "enum": ["CodeBuildStep", "ShellStep"] });
    not_null(&mut runs["properties"]["image"]);
    runs["properties"]["commands"]["minItems"] = 1.into();
    if let Some(required) = runs["required"].as_array_mut() {
        required.extend(["image".into(), "commands".into()]);
    }
    let mut approval = spec.clone();
    approval["properties"]["pluginType"] =
        json!({ "type": "string", "enum": ["ManualApprovalStep"] });
    if let Some(properties) = approval["properties"].as_object_mut() {
        properties.remove("image");
        properties.remove("primaryOutputDirectory");
    }
    for nothing in ["installCommands", "commands", "secrets"] {
        approval["properties"][nothing]["maxItems"] = 0.into();
    }
    approval["properties"]["env"]["maxProperties"] = 0.into();
    *spec = json!({ "oneOf": [runs, approval] });
}

/// What an exemption request's fields look like. Two of its refusals no schema can state: the
/// rule must exist, and the expiry lies in the coming year, which moves with the clock.
fn exemption_fields(request: &mut Value) {
    let properties = &mut request["properties"];
    properties["ruleId"]["minLength"] = 1.into();
    properties["ruleId"]["description"] = "The `id` of one of the org's rules.".into();
    properties["entity"]["pattern"] = "^[A-Za-z0-9._@-]+$".into();
    properties["entity"]["maxLength"] = MAX_ENTITY_CHARS.into();
    properties["reason"]["pattern"] = "\\S".into();
    properties["reason"]["maxLength"] = MAX_REASON_CHARS.into();
    properties["expiresAt"]["pattern"] = INSTANT_PATTERN.into();
    properties["expiresAt"]["format"] = "date-time".into();
}

/// Plugin names as publishing accepts them; a step's default name is its plugin's.
const PLUGIN_NAME_PATTERN: &str = "^[a-z0-9-]+$";

/// Pipeline, stage and action names as CodePipeline allows them.
const CODEPIPELINE_NAME_PATTERN: &str = "^[A-Za-z0-9.@_-]+$";
fn codepipeline_name(max_chars: usize) -> Value {
    json!({ "type": "string", "pattern": CODEPIPELINE_NAME_PATTERN, "minLength": 1, "maxLength": max_chars })
}

/// `vars`, `metadata`, `tags` and a step's `env`: keys of `_-.:/` and alphanumerics, values
/// limited in bytes, stated as the characters that always fit.
fn string_map(map: &mut Value, max_value_bytes: usize) {
    map["maxProperties"] = PIPELINE_MAP_ENTRIES.into();
    map["propertyNames"] = json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9_.:/-]+$",
        "maxLength": PIPELINE_KEY_CHARS,
    });
    map["additionalProperties"] = json!({ "type": "string", "maxLength": max_value_bytes / 4 });
}

fn pipeline_fields(spec: &mut Value) {
    let properties = &mut spec["properties"];
    properties["name"] = codepipeline_name(PIPELINE_NAME_CHARS);
    properties["project"] = codepipeline_name(PIPELINE_PROJECT_CHARS);
    properties["description"]["maxLength"] = PIPELINE_DESCRIPTION_CHARS.into();
    properties["stages"]["minItems"] = 1.into();
    properties["stages"]["maxItems"] = MAX_STAGES.into();
    // Stage names, and step names within a stage, are unique; JSON Schema can only say that of
    // whole items.
    properties["stages"]["uniqueItems"] = true.into();
    string_map(&mut properties["vars"], PIPELINE_VALUE_BYTES);
    string_map(&mut properties["metadata"], PIPELINE_VALUE_BYTES);
    string_map(&mut properties["tags"], PIPELINE_TAG_VALUE_CHARS);
    properties["tags"]["maxProperties"] = MAX_TAGS.into();
}

fn stage_fields(stage: &mut Value) {
    let properties = &mut stage["properties"];
    properties["name"] = codepipeline_name(PIPELINE_NAME_CHARS);
    properties["environment"]["pattern"] = or_template("[A-Za-z0-9.@_-]{1,64}").into();
    properties["steps"]["minItems"] = 1.into();
    properties["steps"]["maxItems"] = MAX_STEPS_PER_STAGE.into();
    properties["steps"]["uniqueItems"] = true.into();
}

fn step_fields(step: &mut Value) {
    let properties = &mut step["properties"];
    properties["name"]["pattern"] = CODEPIPELINE_NAME_PATTERN.into();
    properties["name"]["minLength"] = 1.into();
    properties["name"]["maxLength"] = PIPELINE_NAME_CHARS.into();
    properties["timeoutMinutes"]["minimum"] = PIPELINE_MIN_TIMEOUT_MINUTES.into();
    properties["timeoutMinutes"]["maximum"] = PIPELINE_MAX_TIMEOUT_MINUTES.into();
    string_map(&mut properties["env"], PIPELINE_VALUE_BYTES);
    string_map(&mut properties["metadata"], PIPELINE_VALUE_BYTES);
    // Which earlier step an entry names, and whether it runs before and has an output, depend on
    // the rest of the definition and on its plugins; the form is all a schema can say.
    properties["inputs"]["maxItems"] = MAX_STEP_INPUTS.into();
    properties["inputs"]["uniqueItems"] = true.into();
    properties["inputs"]["items"] = json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9.@_-]{1,100}(/[A-Za-z0-9.@_-]{1,100})?$",
    });
}

/// A GitHub source names its credentials one way only, a CodeConnections ARN or a Secrets
/// Manager secret, so it is two variants. Source fields may hold `{{ vars.x }}` templates, checked
/// once expanded, so each pattern admits a template besides the field's own form.
fn source_kinds(source: &mut Value) {
    let Some(variants) = source["oneOf"].as_array_mut() else {
        return;
    };
    let mut kinds = Vec::new();
    for mut variant in variants.drain(..) {
        let properties = &mut variant["properties"];
        for (field, pattern) in [
            ("repo", "[A-Za-z0-9.@_-]+/[A-Za-z0-9.@_-]+"),
            (
                "branch",
                "[A-Za-z0-9_/][A-Za-z0-9_/-]{0,200}(?:\\.[A-Za-z0-9_/-]{1,20})?",
            ),
            ("connectionArn", CONNECTION_ARN_PATTERN),
            ("repository", "[A-Za-z0-9.@_-]{1,100}"),
            // An S3 bucket name, but not one of the platform's (`pb-…`).
            (
                "bucket",
                "(?:[a-oq-z0-9.-][a-z0-9.-]{2,62}|p[ac-z0-9.-][a-z0-9.-]{1,61}|pb[a-z0-9.][a-z0-9.-]{0,60})",
            ),
        ] {
            if let Some(property) = properties.get_mut(field) {
                property["pattern"] = or_template(pattern).into();
            }
        }
        for field in ["tokenSecret", "key"] {
            if let Some(property) = properties.get_mut(field) {
                property["minLength"] = 1.into();
            }
        }
        if variant["properties"].get("tokenSecret").is_none() {
            kinds.push(variant);
            continue;
        }
        let mut connection = variant.clone();
        not_null(&mut connection["properties"]["connectionArn"]);
        remove_property(&mut connection, "tokenSecret");
        require(&mut connection, "connectionArn");
        let mut secret = variant;
        not_null(&mut secret["properties"]["tokenSecret"]);
        remove_property(&mut secret, "connectionArn");
        require(&mut secret, "tokenSecret");
        kinds.extend([connection, secret]);
    }
    *variants = kinds;
}

const CONNECTION_ARN_PATTERN: &str =
    "arn:aws[a-z-]*:(?:codeconnections|codestar-connections):[^:]*:[^:]*:connection/[^:]*";

/// A field's own form, or any text holding a template (whose expansion is checked instead).
fn or_template(pattern: &str) -> String {
    format!("^(?:{pattern}|.*\\{{\\{{.*)$")
}

fn remove_property(schema: &mut Value, name: &str) {
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.remove(name);
    }
}

fn require(schema: &mut Value, name: &str) {
    if let Some(required) = schema["required"].as_array_mut() {
        required.push(name.into());
    }
}

/// Each kind of source refuses the fields of the others (utoipa states `deny_unknown_fields` on
/// structs only).
/// A notification channel's destination and secret, as far as a schema can say (addresses the
/// platform must not reach are refused by name, after parsing).
fn channel_limits(channel: &mut Value) {
    let Some(variants) = channel["oneOf"].as_array_mut() else {
        return;
    };
    for variant in variants {
        let properties = &mut variant["properties"];
        if let Some(topic) = properties.get_mut("topicArn") {
            topic["pattern"] =
                "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$".into();
        }
        if let Some(url) = properties.get_mut("url") {
            url["pattern"] = "^https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$".into();
            url["maxLength"] = MAX_URL_CHARS.into();
        }
        if let Some(secret) = properties.get_mut("secret") {
            secret["pattern"] = "^[!-~]+$".into();
            secret["minLength"] = MIN_SECRET_CHARS.into();
            secret["maxLength"] = MAX_SECRET_CHARS.into();
        }
    }
}

fn subscription_limits(request: &mut Value) {
    let properties = &mut request["properties"];
    properties["name"]["minLength"] = 1.into();
    properties["name"]["maxLength"] = MAX_SUBSCRIPTION_NAME_CHARS.into();
    properties["name"]["pattern"] =
        "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$".into();
    for field in ["pipelineId", "project"] {
        properties[field]["pattern"] = "^[A-Za-z0-9._-]{1,128}$".into();
    }
    properties["outcomes"]["minItems"] = 1.into();
    properties["outcomes"]["maxItems"] = MAX_OUTCOMES.into();
    properties["outcomes"]["uniqueItems"] = true.into();
}

fn closed_variants(source: &mut Value) {
    if let Some(variants) = source["oneOf"].as_array_mut() {
        for variant in variants {
            variant["additionalProperties"] = false.into();
        }
    }
}

/// A `null` flag counts as absent, and a patch must set at least one.
fn at_least_one_flag(patch: &mut Value) {
    patch["minProperties"] = 1.into();
    if let Some(properties) = patch["properties"].as_object_mut() {
        properties.values_mut().for_each(not_null);
    }
}

/// A token request either mints (`scope` and `perms` required) or stores the platform token,
/// whose scope and permissions are fixed and may only be restated.
fn mint_or_store(request: &mut Value) {
    let mut mint = request.clone();
    mint["required"] = json!(["scope", "perms"]);
    mint["properties"]["store"]["enum"] = json!([false]);
    not_null(&mut mint["properties"]["scope"]);
    not_null(&mut mint["properties"]["perms"]);
    mint["properties"]["perms"]["items"]["pattern"] = PERMISSION_PATTERN.into();
    let mut store = request.clone();
    store["required"] = json!(["store"]);
    store["properties"]["store"]["enum"] = json!([true]);
    store["properties"]["scope"]["enum"] = json!([PLATFORM_SCOPE]);
    store["properties"]["perms"]["items"]["enum"] = json!(PLATFORM_PERMS);
    *request = json!({ "oneOf": [mint, store] });
}

/// Rules tried in a dry run instead of the org's stored ones.
fn inline_rules(request: &mut Value) {
    request["properties"]["rules"]["maxItems"] = MAX_INLINE_RULES.into();
}

/// A dry run judges exactly one definition: a pipeline or a plugin, never both nor neither.
fn pipeline_or_plugin(request: &mut Value) {
    let variant = |given: &str, other: &str| {
        let mut variant = request.clone();
        variant["required"] = json!([given]);
        not_null(&mut variant["properties"][given]);
        if let Some(properties) = variant["properties"].as_object_mut() {
            properties.remove(other);
        }
        variant["additionalProperties"] = false.into();
        variant
    };
    *request = json!({ "oneOf": [variant("pipeline", "plugin"), variant("plugin", "pipeline")] });
}

/// Removes `null` from a property's types, whether stated as a type list or as a `oneOf` branch
/// (how an optional reference to another schema is written).
fn not_null(property: &mut Value) {
    if let Some(branches) = property["oneOf"].as_array() {
        let kept: Vec<Value> = branches
            .iter()
            .filter(|branch| branch["type"] != "null")
            .cloned()
            .collect();
        *property = match kept.as_slice() {
            [single] => single.clone(),
            _ => json!({ "oneOf": kept }),
        };
        return;
    }
    let Some(types) = property["type"].as_array() else {
        return;
    };
    let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    property["type"] = match types.as_slice() {
        [single] => single.clone(),
        _ => types.into(),
    };
}

fn property<'a>(
    components: &'a mut utoipa::openapi::Components,
    schema: &str,
    name: &str,
) -> Option<&'a mut Schema> {
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return None;
    };
    match object.properties.get_mut(name) {
        Some(RefOr::T(schema)) => Some(schema),
        _ => None,
    }
}

fn limit_text(schema: Option<&mut Schema>, min: usize, max: usize, pattern: Option<&str>) {
    if let Some(Schema::Object(object)) = schema {
        object.min_length = Some(min);
        object.max_length = Some(max);
        object.pattern = pattern.map(Into::into);
    }
}

fn limit_items(schema: Option<&mut Schema>, min: usize, max: usize) {
    if let Some(Schema::Array(array)) = schema {
        array.min_items = Some(min);
        array.max_items = Some(max);
    }
}

fn limit_number(schema: Option<&mut Schema>, min: u32, max: u32) {
    if let Some(Schema::Object(object)) = schema {
        object.minimum = Some(min.into());
        object.maximum = Some(max.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_source_bucket_is_stated_as_any_bucket_but_the_platforms() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let sources = document["components"]["schemas"]["SourceSpec"]["oneOf"]
            .as_array()
            .unwrap();
        let s3 = sources
            .iter()
            .find(|s| s["properties"]["type"]["enum"][0] == "s3")
            .unwrap();
        let pattern =
            regex::Regex::new(s3["properties"]["bucket"]["pattern"].as_str().unwrap()).unwrap();
        for accepted in ["acme-exports", "pbx", "pb.data", "p-b", "pbbucket", "abc"] {
            assert!(pattern.is_match(accepted), "{accepted}");
        }
        for refused in ["pb-acme-x-artifactbucket-1a2b", "pb-x", "Pb"] {
            let matched = pattern.find(refused).map(|m| m.as_str() == refused);
            assert_ne!(matched, Some(true), "{refused}");
        }
    }

    #[test]
    fn every_error_answer_is_documented_as_problem_json() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let mut authenticated = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses {
                    if !status.starts_with('2') {
                        let types: Vec<&String> =
                            response["content"].as_object().unwrap().keys().collect();
                        assert_eq!(types, [PROBLEM_JSON], "{method} {path} {status}");
                    }
                }
                if operation.get("security").is_some() {
                    authenticated += 1;
                    for status in ["400", "401", "403", "500", "503"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
            }
        }
        assert!(authenticated >= 40, "{authenticated}");
    }

    #[test]
    fn parameters_state_the_bounds_the_extractors_enforce() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let parameters = |path: &str, method: &str| {
            document["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .clone()
        };
        let id = &parameters("/api/pipelines/{id}", "get")[0];
        assert_eq!(id["schema"]["maxLength"], MAX_PATH_PARAM_BYTES);
        assert_eq!(
            id["schema"]["pattern"],
            "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
        );
        let limit = parameters("/api/pipelines", "get")
            .into_iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&serde_json::json!(1), &serde_json::json!(MAX_PAGE_SIZE))
        );
    }

    #[test]
    fn request_schemas_state_the_validators_limits() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        // A schema split into variants states every limit on its first, most complete, one.
        let property = |schema: &str, name: &str| {
            let schema = &document["components"]["schemas"][schema];
            let schema = if schema["oneOf"].is_array() {
                &schema["oneOf"][0]
            } else {
                schema
            };
            schema["properties"][name].clone()
        };
        let bounds = |schema: &str, name: &str, low: &str, high: &str| {
            let property = property(schema, name);
            (property[low].clone(), property[high].clone())
        };
        let json = |low: usize, high: usize| (serde_json::json!(low), serde_json::json!(high));
        let text = |schema: &str, name: &str| bounds(schema, name, "minLength", "maxLength");
        let items = |schema: &str, name: &str| bounds(schema, name, "minItems", "maxItems");
        let range = |schema: &str, name: &str| bounds(schema, name, "minimum", "maximum");
        assert_eq!(text("PluginSpec", "name"), json(1, LIMITS.name_chars));
        assert_eq!(
            property("PluginSpec", "version")["pattern"],
            VERSION_PATTERN
        );
        assert_eq!(
            text("PluginSpec", "description"),
            json(0, LIMITS.description_chars)
        );
        assert_eq!(
            text("PluginSpec", "category"),
            json(1, LIMITS.category_chars)
        );
        assert_eq!(text("PluginSpec", "image"), json(1, LIMITS.image_chars));
        assert_eq!(
            text("PluginSpec", "primaryOutputDirectory"),
            json(1, LIMITS.output_directory_chars)
        );
        assert_eq!(items("PluginSpec", "keywords"), json(0, LIMITS.keywords));
        assert_eq!(
            items("PluginSpec", "installCommands"),
            json(0, LIMITS.commands)
        );
        assert_eq!(
            items("PluginSpec", "commands"),
            json(1, LIMITS.commands),
            "a step that runs commands runs at least one"
        );
        assert_eq!(items("PluginSpec", "secrets"), json(0, LIMITS.secrets));
        assert_eq!(
            items("PluginSpec", "requiredMetadata"),
            json(0, LIMITS.required_metadata)
        );
        assert_eq!(
            range("PluginSpec", "timeoutMinutes"),
            json(
                LIMITS.min_timeout_minutes as usize,
                LIMITS.max_timeout_minutes as usize
            )
        );
        assert_eq!(
            items("LookupRequest", "plugins"),
            json(1, MAX_LOOKUP_REFERENCES)
        );
        assert_eq!(
            text("StatusPatch", "deprecationMessage"),
            json(0, MAX_DEPRECATION_MESSAGE_CHARS)
        );
        assert_eq!(
            text("RegistryWriteRequest", "pipelineId"),
            json(1, MAX_PIPELINE_ID_CHARS)
        );
        assert_eq!(
            text("RegistryWriteRequest", "pipelineName"),
            json(1, MAX_CODEPIPELINE_NAME_CHARS)
        );
        assert_eq!(
            text("RegistryWriteRequest", "stackName"),
            json(1, MAX_STACK_NAME_CHARS)
        );
        let sources = document["components"]["schemas"]["SourceSpec"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(sources.len(), 4);
        for source in sources {
            assert_eq!(source["additionalProperties"], false, "{source}");
        }
    }

    #[test]
    fn a_plugin_spec_either_runs_commands_or_is_a_manual_approval() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let schemas = &document["components"]["schemas"];
        let kinds = &schemas["PluginSpec"]["oneOf"];
        let (runs, approval) = (&kinds[0], &kinds[1]);
        let required = runs["required"].as_array().unwrap();
        assert!(required.contains(&json!("image")) && required.contains(&json!("commands")));
        assert_eq!(runs["properties"]["image"]["type"], "string");
        assert_eq!(runs["properties"]["image"]["pattern"], IMAGE_PATTERN);
        assert_eq!(runs["properties"]["commands"]["minItems"], 1);
        assert_eq!(
            runs["properties"]["pluginType"]["enum"],
            json!(["CodeBuildStep", "ShellStep"])
        );
        assert_eq!(
            approval["properties"]["pluginType"]["enum"],
            json!(["ManualApprovalStep"])
        );
        assert_eq!(approval["additionalProperties"], false);
        assert!(approval["properties"].get("image").is_none());
        assert!(approval["properties"]
            .get("primaryOutputDirectory")
            .is_none());
        for nothing in ["installCommands", "commands", "secrets"] {
            assert_eq!(approval["properties"][nothing]["maxItems"], 0, "{nothing}");
        }
        assert_eq!(approval["properties"]["env"]["maxProperties"], 0);
        let env = &runs["properties"]["env"];
        assert_eq!(env["maxProperties"], LIMITS.env_vars);
        assert_eq!(env["propertyNames"]["pattern"], ENV_NAME_PATTERN);
        assert_eq!(env["propertyNames"]["maxLength"], LIMITS.env_name_chars);
        assert_eq!(
            env["additionalProperties"]["maxLength"],
            LIMITS.env_value_bytes / 4
        );
        let command = &runs["properties"]["commands"]["items"];
        assert_eq!(command["maxLength"], LIMITS.command_bytes / 4);
        assert_eq!(
            runs["properties"]["requiredMetadata"]["items"]["pattern"],
            METADATA_KEY_PATTERN
        );
        assert_eq!(
            runs["properties"]["primaryOutputDirectory"]["pattern"],
            OUTPUT_DIRECTORY_PATTERN
        );
        let secret_name = &schemas["SecretRef"]["properties"]["name"];
        assert_eq!(secret_name["pattern"], SECRET_NAME_PATTERN);
        assert_eq!(secret_name["maxLength"], LIMITS.secret_name_chars);
    }

    #[test]
    fn a_pipeline_spec_states_the_validators_limits() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let schemas = &document["components"]["schemas"];
        let pipeline = &schemas["PipelineSpec"]["properties"];
        assert_eq!(pipeline["name"]["maxLength"], PIPELINE_NAME_CHARS);
        assert_eq!(pipeline["name"]["pattern"], CODEPIPELINE_NAME_PATTERN);
        assert_eq!(pipeline["project"]["maxLength"], PIPELINE_PROJECT_CHARS);
        assert_eq!(
            pipeline["description"]["maxLength"],
            PIPELINE_DESCRIPTION_CHARS
        );
        assert_eq!(pipeline["stages"]["maxItems"], MAX_STAGES);
        assert_eq!(pipeline["tags"]["maxProperties"], MAX_TAGS);
        for map in ["vars", "metadata", "tags"] {
            if map != "tags" {
                assert_eq!(
                    pipeline[map]["maxProperties"], PIPELINE_MAP_ENTRIES,
                    "{map}"
                );
            }
            assert_eq!(
                pipeline[map]["propertyNames"]["maxLength"],
                PIPELINE_KEY_CHARS
            );
        }
        assert_eq!(
            pipeline["tags"]["additionalProperties"]["maxLength"],
            PIPELINE_TAG_VALUE_CHARS / 4
        );
        let stage = &schemas["StageSpec"]["properties"];
        assert_eq!(stage["steps"]["maxItems"], MAX_STEPS_PER_STAGE);
        assert_eq!(stage["steps"]["uniqueItems"], true);
        assert_eq!(pipeline["stages"]["uniqueItems"], true);
        let step = &schemas["StepSpec"]["properties"];
        assert_eq!(
            (
                &step["timeoutMinutes"]["minimum"],
                &step["timeoutMinutes"]["maximum"]
            ),
            (
                &json!(PIPELINE_MIN_TIMEOUT_MINUTES),
                &json!(PIPELINE_MAX_TIMEOUT_MINUTES)
            )
        );
        assert_eq!(step["inputs"]["maxItems"], MAX_STEP_INPUTS);
        let sources = schemas["SourceSpec"]["oneOf"].as_array().unwrap();
        let kinds: Vec<(&Value, &Value)> = sources
            .iter()
            .map(|s| (&s["properties"]["type"]["enum"][0], &s["required"]))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    &json!("github"),
                    &json!(["repo", "branch", "type", "connectionArn"])
                ),
                (
                    &json!("github"),
                    &json!(["repo", "branch", "type", "tokenSecret"])
                ),
                (
                    &json!("codecommit"),
                    &json!(["repository", "branch", "type"])
                ),
                (&json!("s3"), &json!(["bucket", "key", "type"])),
            ]
        );
        let repo = regex::Regex::new(
            sources[0]["properties"]["repo"]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert!(repo.is_match("acme/payments") && repo.is_match("{{ vars.repo }}"));
        assert!(!repo.is_match("acme") && !repo.is_match("acme/pay/ments"));
        let reference = &schemas["RequestedPlugin"]["properties"]["version"];
        assert_eq!(reference["pattern"], VERSION_RANGE_PATTERN);
        assert_eq!(reference["maxLength"], MAX_RANGE_CHARS);
        assert!(sources[0]["properties"].get("tokenSecret").is_none());
        assert!(sources[1]["properties"].get("connectionArn").is_none());
    }

    #[test]
    fn an_exemption_request_states_its_formats() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let request = &document["components"]["schemas"]["ExemptionRequest"]["properties"];
        assert_eq!(request["entity"]["maxLength"], MAX_ENTITY_CHARS);
        assert_eq!(request["reason"]["maxLength"], MAX_REASON_CHARS);
        assert_eq!(request["expiresAt"]["pattern"], INSTANT_PATTERN);
        assert_eq!(request["ruleId"]["minLength"], 1);
    }

    #[test]
    fn a_token_request_either_mints_or_stores_the_platform_token() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let variants = &document["components"]["schemas"]["TokenRequest"]["oneOf"];
        let (mint, store) = (&variants[0], &variants[1]);
        for variant in [mint, store] {
            let properties = &variant["properties"];
            assert_eq!(properties["scope"]["maxLength"], MAX_SCOPE_CHARS);
            assert_eq!(properties["perms"]["maxItems"], MAX_TOKEN_PERMISSIONS);
            assert_eq!(properties["expiresInDays"]["minimum"], 1);
            assert_eq!(properties["expiresInDays"]["maximum"], MAX_LIFETIME_DAYS);
            assert_eq!(variant["additionalProperties"], false);
        }
        assert_eq!(mint["required"], json!(["scope", "perms"]));
        assert_eq!(mint["properties"]["store"]["enum"], json!([false]));
        assert_eq!(mint["properties"]["scope"]["type"], "string");
        assert_eq!(
            mint["properties"]["perms"]["items"]["pattern"],
            PERMISSION_PATTERN
        );
        assert_eq!(store["required"], json!(["store"]));
        assert_eq!(store["properties"]["store"]["enum"], json!([true]));
        assert_eq!(
            store["properties"]["scope"]["enum"],
            json!([PLATFORM_SCOPE])
        );
        assert_eq!(
            store["properties"]["perms"]["items"]["enum"],
            json!(PLATFORM_PERMS)
        );
    }

    #[test]
    fn a_rule_body_is_stated_as_the_domain_writes_it() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["RuleSpec"],
            rule_spec_schema(),
            "nothing lost on the way"
        );
        assert_eq!(
            schemas["ValidateRequest"]["oneOf"][0]["properties"]["rules"]["maxItems"],
            MAX_INLINE_RULES
        );
    }

    #[test]
    fn a_dry_run_names_exactly_one_of_pipeline_and_plugin() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let variants = document["components"]["schemas"]["ValidateRequest"]["oneOf"]
            .as_array()
            .unwrap();
        for (variant, given, other) in [
            (&variants[0], "pipeline", "plugin"),
            (&variants[1], "plugin", "pipeline"),
        ] {
            assert_eq!(variant["required"], json!([given]));
            assert!(variant["properties"].get(other).is_none(), "{variant}");
            assert_eq!(variant["additionalProperties"], json!(false));
        }
        assert_eq!(
            variants[0]["properties"]["pipeline"],
            json!({"$ref": "#/components/schemas/PipelineSpec"})
        );
    }

    #[test]
    fn a_status_patch_sets_at_least_one_flag_and_none_to_null() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let patch = &document["components"]["schemas"]["StatusPatch"];
        assert_eq!(patch["minProperties"], 1);
        assert_eq!(patch["properties"]["active"]["type"], "boolean");
        assert_eq!(patch["properties"]["deprecated"]["type"], "boolean");
        assert_eq!(patch["properties"]["deprecationMessage"]["type"], "string");
    }

    #[test]
    fn parameters_that_carry_formats_state_them() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let parameter = |path: &str, method: &str, name: &str| {
            document["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()
                .clone()
        };
        let timeline = "/api/reports/execution/timeline";
        for name in ["from", "to"] {
            let schema = &parameter(timeline, "get", name)["schema"];
            assert_eq!(schema["pattern"], DATE_OR_INSTANT_PATTERN, "{name}");
        }
        assert_eq!(
            parameter(timeline, "get", "interval")["schema"]["enum"],
            serde_json::json!(["day", "week", "month"])
        );
        for method in ["get", "patch"] {
            let version = parameter("/api/plugins/{name}/{version}", method, "version");
            assert_eq!(version["schema"]["pattern"], VERSION_PATTERN, "{method}");
        }
        let cursor = parameter("/api/tokens", "get", "cursor");
        assert!(cursor["description"]
            .as_str()
            .unwrap()
            .contains("nextCursor"));
        let if_match = parameter("/api/pipelines/{id}", "put", "If-Match");
        assert!(if_match["description"].as_str().unwrap().contains("ETag"));
    }
}
