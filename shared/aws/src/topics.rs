//! SNS: notifications published to the topics orgs subscribe with.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::stacks::ORG_TAG;
use crate::AwsError;

#[derive(Debug, Clone)]
pub struct TopicPublisher {
    client: aws_sdk_sns::Client,
}

impl TopicPublisher {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        TopicPublisher { client }
    }

    /// The org a topic was set up for: its `pipeline-builder:org` tag. `None` when the topic is
    /// untagged or does not exist, so an org can only subscribe topics tagged for it.
    pub async fn owner_org(&self, topic_arn: &str) -> Result<Option<String>, AwsError> {
        let output = match self
            .client
            .list_tags_for_resource()
            .resource_arn(topic_arn)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error)
                if error.as_service_error().is_some_and(|e| {
                    e.is_resource_not_found_exception() || e.is_invalid_parameter_exception()
                }) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(AwsError::classify("ListTagsForResource", error)),
        };
        Ok(output
            .tags()
            .iter()
            .find(|tag| tag.key() == ORG_TAG)
            .map(|tag| tag.value().to_string()))
    }

    /// Publishes `message` with string message attributes (subscribers filter on them); returns
    /// SNS's message id.
    pub async fn publish(
        &self,
        topic_arn: &str,
        message: &str,
        attributes: &[(&str, &str)],
    ) -> Result<String, AwsError> {
        let mut request = self.client.publish().topic_arn(topic_arn).message(message);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .map_err(|e| AwsError::local("Publish", "InvalidAttribute", e))?;
            request = request.message_attributes(*name, value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| AwsError::classify("Publish", e))?;
        Ok(output.message_id.unwrap_or_default())
    }
}
