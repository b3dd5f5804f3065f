//! The smallest `lambda_runtime` function: echoes its event and initialises nothing else. `make
//! bench` measures its init next to the real functions' as the floor a Rust Lambda cannot go below.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
