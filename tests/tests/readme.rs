//! The README documents what the code computes; these fail when the two drift apart.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

#[test]
fn the_readme_lists_the_compliance_operators_and_attributes_the_code_has() {
    let reference = pb_domain::compliance::reference_markdown();
    if std::env::var_os("PRINT_REFERENCE").is_some() {
        println!("{reference}");
    }
    assert!(
        readme().contains(reference.trim()),
        "README.md must contain pb_domain::compliance::reference_markdown() verbatim \
         (PRINT_REFERENCE=1 cargo test -p pb-tests --test readme -- --nocapture prints it)"
    );
}
