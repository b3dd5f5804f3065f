//! Secrets Manager: the API's signing key set, and the platform tokens stored for each org.
//! Secret values pass through here and are never logged or put into errors.

use aws_sdk_secretsmanager::Client;

use crate::AwsError;

/// Whether storing a secret created it or added a version to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    NewVersion,
}

impl Stored {
    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Created => "created",
            Stored::NewVersion => "newVersion",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
}

impl Secrets {
    pub fn new(client: Client) -> Self {
        Secrets { client }
    }

    /// The current version's string value.
    pub async fn read(&self, secret_id: &str) -> Result<String, AwsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetSecretValue", e))?;
        output.secret_string.ok_or_else(|| AwsError::Rejected {
            operation: "GetSecretValue",
            code: "NotAString".into(),
            message: format!("secret {secret_id} has no string value"),
        })
    }

    /// Deletes the secret at once (no recovery window: a deleted subscription's secret must stop
    /// signing now); one already gone is not an error.
    pub async fn delete(&self, secret_id: &str) -> Result<(), AwsError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(secret_id)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(AwsError::classify("DeleteSecret", error)),
        }
    }

    /// Creates the secret, or puts `value` as its new current version when it already exists.
    pub async fn write(&self, name: &str, value: &str) -> Result<Stored, AwsError> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(Stored::Created),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| AwsError::classify("PutSecretValue", e))?;
                Ok(Stored::NewVersion)
            }
            Err(error) => Err(AwsError::classify("CreateSecret", error)),
        }
    }
}
