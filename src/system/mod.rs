//! Everything that touches the machine.

pub mod fifo;
pub mod files;
pub mod fs;
pub mod interrupt;
pub mod ipsecctl;
pub mod names;
pub mod report;
