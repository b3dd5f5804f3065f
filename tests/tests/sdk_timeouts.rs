//! Every client the functions build carries the SDK timeouts: a service that accepts the
//! connection and never answers ends the call with a timeout error instead of holding it.

use std::time::Duration;

use aws_config::Region;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use pb_aws::clients::{sdk_config_loader, SdkTimeouts};
use pb_aws::registry::Registry;
use pb_aws::{AwsError, Clients};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Accepts every connection and reads what is sent, but never writes a byte back.
async fn silent_service() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                // Keep the connection open and silent until the test ends.
                std::future::pending::<()>().await;
            });
        }
    });
    format!("http://{address}")
}

async fn clients_against(endpoint: &str, timeouts: SdkTimeouts) -> Clients {
    let config = sdk_config_loader(timeouts)
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .load()
        .await;
    Clients::new(&config, &[])
}

fn registry(clients: &Clients) -> Registry {
    Registry::new(
        clients.dynamodb.clone(),
        "catalog",
        Duration::ZERO,
        Duration::ZERO,
    )
}

#[tokio::test]
async fn a_silent_service_ends_the_call_with_the_operation_timeout() {
    let endpoint = silent_service().await;
    let timeouts = SdkTimeouts::millis(900, 300, 200);
    let clients = clients_against(&endpoint, timeouts).await;

    let error = registry(&clients)
        .org_of("pl-1")
        .await
        .expect_err("the service never answers");

    assert_eq!(error.kind(), "timeout", "{error}");
    let AwsError::TimedOut { operation, message } = &error else {
        panic!("not a timeout: {error:?}");
    };
    assert_eq!(*operation, "GetItem");
    // The attempts (300 ms each) are retried until the whole operation's 900 ms run out.
    assert!(
        message.contains("operation timeout (all attempts including retries) occurred after 900ms"),
        "{message}"
    );
}

#[tokio::test]
async fn a_silent_service_ends_a_lone_attempt_with_the_attempt_timeout() {
    let endpoint = silent_service().await;
    // An operation timeout longer than every retry's attempts together: the last attempt's
    // own timeout is what ends the call.
    let timeouts = SdkTimeouts::millis(60_000, 200, 100);
    let clients = clients_against(&endpoint, timeouts).await;

    let error = clients
        .sqs
        .list_queues()
        .send()
        .await
        .map_err(|e| AwsError::classify("ListQueues", e))
        .expect_err("the service never answers");

    assert_eq!(error.kind(), "timeout", "{error}");
    assert!(
        error
            .to_string()
            .contains("operation attempt timeout (single attempt) occurred after 200ms"),
        "{error}"
    );
}
