//! The Rust quickstart in README.md is `examples/quickstart.rs` verbatim, and it runs.

mod common;
use common::*;

#[test]
fn readme_shows_the_quickstart_verbatim_and_it_runs() {
    let example = include_str!("../examples/quickstart.rs");
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(example.trim()),
        "README.md's Rust quickstart differs from tests/examples/quickstart.rs"
    );
    let node = Node::start(&[]);
    let out = std::process::Command::new(iris_tests::target_dir().join("examples/quickstart"))
        .env("IRIS_PORT", node.port.to_string())
        .output()
        .expect("run the quickstart example (built by cargo test)");
    assert!(
        out.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reply: hello"), "{stdout}");
}
