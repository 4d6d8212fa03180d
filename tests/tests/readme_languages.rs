//! The per-language quickstarts in the root README are verbatim copies of the binding READMEs'
//! quickstarts, which each binding's own suite runs.

/// The fenced code blocks of `text` whose info string is `lang`.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("unterminated code block");
        found.push(&body[..end]);
        rest = &body[end..];
    }
    found
}

#[test]
fn root_readme_quickstarts_match_the_binding_readmes() {
    let root = include_str!("../../README.md");
    let bindings = [
        ("python", include_str!("../../bindings/python/README.md")),
        ("js", include_str!("../../bindings/node/README.md")),
        ("java", include_str!("../../bindings/java/README.md")),
        ("c", include_str!("../../bindings/c/README.md")),
    ];
    for (lang, binding_readme) in bindings {
        let copies = blocks(root, lang);
        assert!(!copies.is_empty(), "the root README has no {lang} quickstart");
        for copy in copies {
            assert!(
                blocks(binding_readme, lang).contains(&copy),
                "the root README's {lang} quickstart differs from the binding README's"
            );
        }
    }
}
