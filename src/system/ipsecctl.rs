//! Running ipsecctl(8): an argument vector, never a shell; its exit status
//! and messages are what the caller decides on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::system::files::io_reason;

#[derive(Debug, Clone)]
pub struct Ipsecctl {
    pub path: PathBuf,
}

/// What one run of ipsecctl did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ipsecctl {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Ipsecctl { path: path.into() }
    }

    /// Runs ipsecctl with `args`; `Err` when it could not be started.
    pub fn run(&self, args: &[String]) -> Result<Outcome, String> {
        let out = Command::new(&self.path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {}", self.path.display(), io_reason(&e)))?;
        Ok(Outcome {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `ipsecctl -f FILE`: load a file's flows, SAs and ike rules.
    pub fn load_args(file: &Path) -> Vec<String> {
        vec!["-f".into(), file.display().to_string()]
    }

    /// `ipsecctl -d -f FILE`: delete them.
    pub fn delete_args(file: &Path) -> Vec<String> {
        vec!["-d".into(), "-f".into(), file.display().to_string()]
    }
}
