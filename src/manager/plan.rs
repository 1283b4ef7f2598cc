//! A plan is what a mutating command will do, as data: file writes and
//! moves, ipsecctl runs, FIFO lines.  `-n` prints it; execution runs it
//! under a journal; tests assert on it.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Replace a file atomically (`old`: its bytes before, `None` if new).
    Write {
        path: PathBuf,
        shown: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        mode: u32,
    },
    /// Move a file aside (never deleted).
    Move {
        from: PathBuf,
        to: PathBuf,
        shown_from: String,
        shown_to: String,
    },
    /// Run ipsecctl.  `file` is written first (mode 0600) when given and
    /// removed after.  A `tolerant` run may fail (deleting what is not
    /// loaded); `undo` runs to take it back on rollback.
    Ipsecctl {
        args: Vec<String>,
        file: Option<(PathBuf, Vec<u8>)>,
        shown_file: Option<String>,
        tolerant: bool,
        undo: Option<Vec<String>>,
    },
    /// Write lines into isakmpd's FIFO.
    Fifo { lines: Vec<String> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The command, as the user gave it: `rm customer-a`.
    pub op: String,
    pub steps: Vec<Step>,
    /// Steps before this index are undone if a later one fails before it
    /// is reached; from it on, an interrupted plan is completed.
    pub commit: usize,
    /// What the plan's text shows instead of secrets: (secret, redacted).
    #[serde(skip)]
    pub display: Vec<(usize, String)>,
}

impl Plan {
    pub fn new(op: impl Into<String>) -> Self {
        Plan {
            op: op.into(),
            ..Plan::default()
        }
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Marks everything so far as undoable.
    pub fn commit_here(&mut self) {
        self.commit = self.steps.len();
    }

    /// Shows step `index`'s file (or new content) as `text` (redacted).
    pub fn show_as(&mut self, index: usize, text: String) {
        self.display.push((index, text));
    }

    fn shown_text(&self, index: usize) -> Option<&str> {
        self.display
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, t)| t.as_str())
    }

    /// The plan for people: file edits as unified diffs, every ipsecctl
    /// run with the rules it is given, every FIFO line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Write {
                    shown, old, new, ..
                } => {
                    let old = String::from_utf8_lossy(old.as_deref().unwrap_or_default());
                    let new_text = match self.shown_text(i) {
                        Some(t) => t.to_string(),
                        None => String::from_utf8_lossy(new).into_owned(),
                    };
                    let diff = similar::TextDiff::from_lines(old.as_ref(), new_text.as_str())
                        .unified_diff()
                        .context_radius(2)
                        .header(shown, shown)
                        .to_string();
                    let _ = writeln!(out, "edit {shown}:");
                    out.push_str(&diff);
                    if !diff.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Step::Move {
                    shown_from,
                    shown_to,
                    ..
                } => {
                    let _ = writeln!(out, "move {shown_from} to {shown_to}");
                }
                Step::Ipsecctl {
                    args, shown_file, ..
                } => {
                    let _ = writeln!(out, "run ipsecctl {}", args.join(" "));
                    if let (Some(_), Some(text)) = (shown_file, self.shown_text(i)) {
                        for line in text.lines().filter(|l| !l.starts_with('#')) {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                }
                Step::Fifo { lines } => {
                    for line in lines {
                        let _ = writeln!(out, "fifo {line}");
                    }
                }
            }
        }
        out
    }
}
