//! The C binding of Iris: `libiris.so` / `libiris.a` with the header `include/iris.h`, which
//! cbindgen generates from this crate (see `build.rs`).
//!
//! Everything here only converts C arguments, adapts C callback structs onto the core's handler
//! traits and maps errors to status codes; all semantics (limits, expiry, validation, timeouts,
//! error kinds) come from the `iris-client` core. Every exported symbol starts with `iris_`.

// The exported functions are C entry points: their pointer arguments are the C caller's, checked
// for NULL and documented (validity, ownership) in `include/iris.h`. Marking them `unsafe` would
// change nothing for C callers, so the Rust-side lint about it is silenced here, once.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod connection;
mod handlers;
mod limits;
mod logging;
mod service;
mod signals;
mod status;
mod tunnel;

pub use connection::*;
pub use handlers::{iris_reply, iris_reply_fault, iris_reply_ok, iris_service_handler, iris_topic_handler};
pub use limits::*;
pub use service::*;
pub use status::{iris_last_error_code, iris_last_error_message, iris_status, iris_status_name};
pub use tunnel::*;

#[cfg(test)]
mod header_tests {
    /// The committed header must be exactly what cbindgen generates from this source.
    #[test]
    fn committed_header_matches_the_generated_one() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/iris.h"));
        let committed = include_str!("../include/iris.h");
        assert!(
            generated == committed,
            "include/iris.h is out of date: run `make -C bindings/c header` and commit it"
        );
    }
}
