//! The documentation states what the code computes; these fail when the two drift apart.

fn api_reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap()
}

#[test]
fn the_api_reference_lists_the_compliance_operators_and_attributes_the_code_has() {
    let reference = pb_domain::compliance::reference_markdown();
    if std::env::var_os("PRINT_REFERENCE").is_some() {
        println!("{reference}");
    }
    assert!(
        api_reference().contains(reference.trim()),
        "docs/api.md must contain pb_domain::compliance::reference_markdown() verbatim \
         (PRINT_REFERENCE=1 cargo test -p pb-tests --test docs -- --nocapture prints it)"
    );
}
