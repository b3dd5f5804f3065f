//! An error as one line with every cause: HTTP and SDK errors put the reason (a refused
//! connection, a DNS failure) in their sources, not in their own message.

use std::error::Error;

/// `error` and each of its sources, joined with `: `.
pub fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_the_message() {
        let error = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(
            with_causes(&error),
            "error sending request: connection refused"
        );
    }
}
