//! CloudFormation intrinsic functions as JSON.

use serde_json::{json, Value};

pub fn reference(logical_id: &str) -> Value {
    json!({ "Ref": logical_id })
}

pub fn attribute(logical_id: &str, name: &str) -> Value {
    json!({ "Fn::GetAtt": [logical_id, name] })
}

/// `Fn::Sub` of `template`, in which `${X}` refers to a parameter, resource or attribute.
pub fn sub(template: &str) -> Value {
    json!({ "Fn::Sub": template })
}

/// Text from a definition made literal inside `Fn::Sub`: a branch or object key may contain
/// `${`, which `Fn::Sub` would otherwise resolve (`${!` is its escape for a literal `${`).
pub fn literal(text: &str) -> String {
    text.replace("${", "${!")
}

/// `arn:{partition}:{service}:{region}:{account}:{resource}` in the stack's own region and
/// account; `resource` is a `Fn::Sub` fragment.
pub fn regional_arn(service: &str, resource: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"
    ))
}

/// An S3 ARN (no region or account in it); `resource` is a `Fn::Sub` fragment.
pub fn s3_arn(resource: &str) -> Value {
    sub(&format!("arn:${{AWS::Partition}}:s3:::{resource}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_text_cannot_reach_into_the_stack() {
        assert_eq!(
            literal("feature/${AWS::AccountId}"),
            "feature/${!AWS::AccountId}"
        );
        assert_eq!(
            regional_arn("codecommit", &literal("repo")),
            json!({"Fn::Sub": "arn:${AWS::Partition}:codecommit:${AWS::Region}:${AWS::AccountId}:repo"})
        );
    }
}
