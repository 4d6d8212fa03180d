//! Generates the C header `iris.h` from the crate's exported items with cbindgen.
//!
//! The header always goes to `$OUT_DIR/iris.h`; a test compares it with the committed
//! `include/iris.h` so drift fails the suite. `IRIS_C_WRITE_HEADER=1` (what `make header` sets)
//! also rewrites `include/iris.h`.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=IRIS_C_WRITE_HEADER");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate iris.h");
    bindings.write_to_file(out_dir.join("iris.h"));
    if std::env::var("IRIS_C_WRITE_HEADER").is_ok_and(|v| v == "1") {
        bindings.write_to_file(crate_dir.join("include").join("iris.h"));
    }
}
