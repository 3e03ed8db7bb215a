//! One module per command.

pub mod lint;
