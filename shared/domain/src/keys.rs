//! DynamoDB key layout (DESIGN §3), shared by every reader and writer.

pub fn registry_pk(pipeline_id: &str) -> String {
    format!("REG#{pipeline_id}")
}

pub const REGISTRY_SK: &str = "REG";

pub fn execution_pk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}

pub fn execution_sk(execution_id: &str) -> String {
    format!("EXEC#{execution_id}")
}

pub fn stage_sk(execution_id: &str, stage: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#STAGE#{stage}#{attempt:05}")
}

pub fn action_sk(execution_id: &str, stage: &str, action: &str, attempt: u32) -> String {
    format!("EXEC#{execution_id}#ACTION#{stage}#{action}#{attempt:05}")
}

pub fn rollup_pk(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#DAY#{day}")
}

pub fn rollup_sk(pipeline_id: &str) -> String {
    format!("PIPE#{pipeline_id}")
}
