//! Removes what must never be stored: ARNs, account ids and secret-looking `KEY=value` pairs.

use std::sync::OnceLock;

use regex::Regex;

/// Longest stored message; CodePipeline summaries can run to kilobytes of build log.
pub const MAX_MESSAGE_CHARS: usize = 1024;

fn arn() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"arn:aws[a-z-]*:[^\s,;\x22'()\[\]{}<>]+").expect("static regex"))
}

fn account_id() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b\d{12}\b").expect("static regex"))
}

fn secret_pair() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)\b([a-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd|credentials?)[a-z0-9_.-]*["']?)\s*([=:])\s*(?:"[^"]*"|'[^']*'|[^\s,;]+)"#,
        )
        .expect("static regex")
    })
}

fn access_key_id() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b").expect("static regex"))
}

fn url_credentials() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"://[^/\s:@]+:[^/\s@]+@").expect("static regex"))
}

/// Scrubs and caps a free-text message from an event before it is stored or published.
pub fn scrub_message(message: &str) -> String {
    let without_arns = arn().replace_all(message, "<arn>");
    let without_accounts = account_id().replace_all(&without_arns, "<account>");
    let without_keys = access_key_id().replace_all(&without_accounts, "<access-key-id>");
    let without_urls = url_credentials().replace_all(&without_keys, "://<redacted>@");
    let without_secrets = secret_pair().replace_all(&without_urls, "$1$2<redacted>");
    cap(without_secrets.trim())
}

fn cap(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_arns_account_ids_and_secret_pairs() {
        let raw = "Build arn:aws:codebuild:us-east-1:123456789012:build/pay:1a2b failed for \
                   account 123456789012 with DB_PASSWORD=hunter2 and api_key: abc123, port=5432";
        assert_eq!(
            scrub_message(raw),
            "Build <arn> failed for account <account> with DB_PASSWORD=<redacted> and \
             api_key:<redacted>, port=5432"
        );
    }

    #[test]
    fn removes_quoted_json_and_url_credentials_and_access_keys() {
        let raw = r#"env {"DB_PASSWORD": "hunter 2", "region": "us-east-1"} password='a b' \
                     clone https://deploy:s3cr3t@git.example.com/x key AKIAABCDEFGHIJKLMNOP"#;
        assert_eq!(
            scrub_message(raw),
            r#"env {"DB_PASSWORD":<redacted>, "region": "us-east-1"} password=<redacted> \
                     clone https://<redacted>@git.example.com/x key <access-key-id>"#
        );
    }

    #[test]
    fn caps_long_messages_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let capped = scrub_message(&long);
        assert_eq!(capped.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(capped.ends_with('…'));
    }
}
