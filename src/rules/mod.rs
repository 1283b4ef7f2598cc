//! Rules: the resolved meaning of a configuration.

pub mod hosts;
pub mod inet;
pub mod keys;
pub mod model;
pub mod netdb;
mod netdb_table;
pub mod num;
pub mod resolve;
pub mod xf;
