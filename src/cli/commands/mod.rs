//! One module per command.

pub mod apply;
pub mod bundle;
pub mod diff;
pub mod dump;
pub mod lint;
pub mod plan;
pub mod serve;
pub mod sync;
