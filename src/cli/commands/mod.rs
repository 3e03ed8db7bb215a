//! One module per command.

pub mod apply;
pub mod bundle;
pub mod completions;
pub mod diff;
pub mod dump;
pub mod lint;
pub mod ping;
pub mod plan;
pub mod serve;
pub mod sync;
pub mod test;
