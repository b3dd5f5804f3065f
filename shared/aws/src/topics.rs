//! SNS: notifications published to the topics orgs subscribe with.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::AwsError;

#[derive(Debug, Clone)]
pub struct TopicPublisher {
    client: aws_sdk_sns::Client,
}

impl TopicPublisher {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        TopicPublisher { client }
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
