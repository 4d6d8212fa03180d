//! The Iris relay v1 client core.
pub mod codec;
