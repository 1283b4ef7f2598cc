//! Everything that touches the machine.

pub mod files;
pub mod names;
