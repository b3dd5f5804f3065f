//! The `api` binary outside Lambda: `api serve` on a local port and `api mint-token`, as real
//! processes against the emulator.

use pb_tests::emulator::TestBed;
use pb_tests::local_api::{run_api, LocalApi};

#[tokio::test]
async fn the_binary_serves_the_router_and_mints_tokens() {
    let bed = TestBed::new("local-api").await.unwrap();
    let (api, _) = LocalApi::start_with_fresh_keys(&bed).await.unwrap();
    let secret = api.key_set_secret().to_string();

    let admin = api.mint_token("acme", "plugins:read").await.unwrap();
    assert_eq!(admin.split('.').count(), 3);
    let (status, body) = api
        .request("GET", "/api/plugins", Some(&admin), None)
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"items":[]}"#));
    let (status, body) = api
        .request("GET", "/api/plugins", None, None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"missing_token""#), "{body}");

    let refused = run_api(&["mint-token", "--org", "acme"], &secret)
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--perms <PERMS>"));
    let help = run_api(&["--help"], &secret).await.unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("mint-token"));
    let no_secret = run_api(
        &["mint-token", "--org", "acme", "--perms", "*"],
        "no-such-secret",
    )
    .await
    .unwrap();
    assert!(!no_secret.status.success());
    assert!(no_secret.stdout.is_empty());
}
