//! The fragment manager: plans and carries out changes to one included file
//! at a time, touching only that file's tunnels.

pub mod accounted;
pub mod config_only;
pub mod drift;
pub mod edit;
pub mod exec;
pub mod fragment_name;
pub mod fragments;
pub mod invariant;
pub mod journal_check;
pub mod keys;
pub mod keys_file;
pub mod listing;
pub mod ops;
pub mod pending;
pub mod plan;
pub mod plan_json;
pub mod quiet;
pub mod records;
pub mod redact;
pub mod render;
pub mod rule_diff;
pub mod sections;
pub mod state;
pub mod state_check;
pub mod status;
pub mod tag_list;
pub mod teardown;
pub mod tree_diff;
pub mod tunnel_state;

// The gateway stage under the names the manager has always used for it.
pub use crate::gateway::{conflicts, tree};
pub mod gateway {
    pub use crate::gateway::{Gateway, GwPath};
}
