//! A plan is what a mutating command will do, as data: file writes and
//! moves, ipsecctl runs, FIFO lines.  `-n` prints it; execution runs it
//! under a journal; tests assert on it.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::gateway::command::shell_word;
use crate::syntax::secrets::REDACTED;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Replace a file atomically (`old`: its bytes before, `None` if new).
    Write {
        path: PathBuf,
        shown: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        mode: u32,
        /// For one of ipsecmgr's own records (what a fragment loaded, its
        /// applied copy, held-down fragments, pending clean-ups): what it
        /// records, said in one line where a plan would show its text.
        #[serde(default)]
        record: Option<String>,
        /// The keys file: a plan shows its macro names alone, never what
        /// any line holds.
        #[serde(default)]
        secret: bool,
        /// Its bytes, before and after, may hold keys: the journal keeps
        /// neither.  The file is copied aside (readable by root alone) before
        /// it is written, for a rollback, and the copy is removed when the
        /// run ends.  Such a step comes before the commit point.
        #[serde(default)]
        private: bool,
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
        tolerant: bool,
        undo: Option<Vec<String>>,
    },
    /// Write lines into isakmpd's FIFO, each whole in one write (so at
    /// most PIPE_BUF bytes); the journal records how many are in, and a
    /// run that takes an interrupted one up sends only the rest.
    Fifo { lines: Vec<String> },
    /// Nothing forward; when the plan is rolled back, write these lines
    /// into the FIFO.  Placed before the steps whose undo needs them, so
    /// that they run after those steps are undone (what an undone
    /// `ipsecctl -f` leaves behind: see teardown).
    FifoOnUndo { lines: Vec<String> },
    /// Load key macro `name`, as the keys file holds it when the step
    /// runs, into isakmpd as the pre-shared key of each of `peers`: one
    /// `C set [PEER]:Authentication=KEY force` each, as ipsecctl's ike.c
    /// writes it (ike_section_peer).  The key is read from the keys file
    /// then, so no plan and no journal holds it.  Unlike a load of rules
    /// (see [`crate::manager::quiet`]) it waits for no exchange: the value
    /// it replaces is freed (conf.c: conf_set_now), but isakmpd copies a
    /// key when it reads it (ike_auth.c: ike_auth_get_key, strdup or a
    /// hex decode into its own buffer), so no exchange points into it.
    LoadKey { name: String, peers: Vec<KeyPeer> },
}

/// A phase 1 peer whose pre-shared key a [`Step::LoadKey`] sets: its
/// section (`peer-ADDRESS[-local-ADDRESS]`) and address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPeer {
    pub tag: String,
    pub address: Option<String>,
}

impl KeyPeer {
    /// The FIFO line setting this peer's key to `key`.
    pub fn line(&self, key: &str) -> String {
        format!("C set [{}]:Authentication={key} force", self.tag)
    }
}

impl Step {
    /// Writing `new` over `path` (holding `old`), readable by root alone,
    /// as every file ipsecmgr writes may hold keys.
    pub fn private_write(path: PathBuf, shown: String, old: Option<Vec<u8>>, new: Vec<u8>) -> Step {
        Step::Write {
            path,
            shown,
            old,
            new,
            mode: 0o600,
            record: None,
            secret: false,
            private: false,
        }
    }

    /// This write with its bytes kept out of the journal (see
    /// `Step::Write::private`).
    pub fn unjournaled(mut self) -> Step {
        if let Step::Write { private, .. } = &mut self {
            *private = true;
        }
        self
    }

    /// Writing the keys file, readable by root alone; shown by its macro
    /// names only.
    pub fn keys_write(path: PathBuf, shown: String, old: Option<Vec<u8>>, new: Vec<u8>) -> Step {
        let mut step = Step::private_write(path, shown, old, new).unjournaled();
        if let Step::Write { secret, .. } = &mut step {
            *secret = true;
        }
        step
    }

    /// Writing one of ipsecmgr's own records, which a plan shows as
    /// `what` unless asked for every line.
    pub fn record(
        path: PathBuf,
        shown: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        what: String,
    ) -> Step {
        let mut step = Step::private_write(path, shown, old, new);
        if let Step::Write { record, .. } = &mut step {
            *record = Some(what);
        }
        step
    }

    /// Whether the step runs ipsecctl or writes into isakmpd's FIFO,
    /// forward or on a rollback.
    pub fn touches_isakmpd(&self) -> bool {
        matches!(
            self,
            Step::Ipsecctl { .. }
                | Step::Fifo { .. }
                | Step::FifoOnUndo { .. }
                | Step::LoadKey { .. }
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The command, as the user gave it: `rm customer-a`.
    pub op: String,
    pub steps: Vec<Step>,
    /// Steps before this index are undone if a later one fails before it
    /// is reached; from it on, an interrupted plan is completed.
    pub commit: usize,
    /// What to tell the user once the plan is carried out.  A plan with
    /// no steps changes nothing: its notes say why.
    #[serde(default)]
    pub notes: Vec<String>,
    /// What a `--config-only` plan leaves for the admin to run, once
    /// isakmpd runs, to make the gateway match its configuration.
    #[serde(default)]
    pub later: Vec<Later>,
    /// The phase 1 tags isakmpd may have started exchanges with when the
    /// plan was made (those of its active connections, and of clean-ups
    /// pending): a load for one of them waits while an exchange may be in
    /// flight (see [`crate::manager::quiet`]).
    #[serde(default)]
    pub initiating: Vec<String>,
    /// Those of them that connections staying up keep starting exchanges
    /// with, the plan's own removals aside: a load for one of them without
    /// a phase 1 SA is refused, as an exchange may start at any moment.
    #[serde(default)]
    pub initiating_kept: Vec<String>,
}

/// A command to run later, and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Later {
    pub argv: Vec<String>,
    /// What it does: `loads acme`.
    pub does: String,
}

impl Later {
    /// The command as a shell reads it back, every word quoted as needed.
    pub fn command(&self) -> String {
        let words: Vec<String> = self.argv.iter().map(|a| shell_word(a)).collect();
        words.join(" ")
    }
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

    /// Pushes `step` when there is one.
    pub fn extend(&mut self, step: Option<Step>) {
        if let Some(step) = step {
            self.steps.push(step);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether a step runs ipsecctl or writes into isakmpd's FIFO, forward
    /// or on a rollback.
    pub fn touches_isakmpd(&self) -> bool {
        self.steps.iter().any(Step::touches_isakmpd)
    }

    /// The plan as the journal keeps it: the bytes of private writes left
    /// out (see `Step::Write::private`).
    pub fn for_journal(&self) -> Plan {
        let mut plan = self.clone();
        for step in &mut plan.steps {
            if let Step::Write {
                old,
                new,
                private: true,
                ..
            } = step
            {
                if let Some(o) = old {
                    o.clear();
                }
                new.clear();
            }
        }
        plan
    }

    /// Marks everything so far as undoable.
    pub fn commit_here(&mut self) {
        self.commit = self.steps.len();
    }

    /// The plan for people: file edits as unified diffs, every ipsecctl
    /// run with the rules it is given, every FIFO line.  File contents go
    /// through `redact`, which hides their secrets.  ipsecmgr's own
    /// records are one line each, saying what they record, unless
    /// `verbose`.
    pub fn render(&self, redact: &dyn Fn(&[u8]) -> String, verbose: bool) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Write {
                    shown,
                    record: Some(what),
                    ..
                } if !verbose => {
                    let _ = writeln!(out, "record {}: {what}", shell_word(shown));
                }
                Step::Write {
                    shown,
                    old,
                    new,
                    secret: true,
                    ..
                } => {
                    let _ = writeln!(out, "edit {} (keys not shown):", shell_word(shown));
                    out.push_str(&key_changes(old.as_deref(), new));
                }
                Step::Write {
                    shown, old, new, ..
                } => {
                    let old = old.as_deref().map(redact).unwrap_or_default();
                    let new_text = redact(new);
                    let diff = similar::TextDiff::from_lines(old.as_str(), new_text.as_str())
                        .unified_diff()
                        .context_radius(2)
                        .header(shown, shown)
                        .to_string();
                    let _ = writeln!(out, "edit {}:", shell_word(shown));
                    if old.is_empty() && new_text.is_empty() {
                        // no diff to show: say what becomes of the file
                        out.push_str("    (an empty file)\n");
                    }
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
                    let _ = writeln!(
                        out,
                        "move {} to {}",
                        shell_word(shown_from),
                        shell_word(shown_to)
                    );
                }
                Step::Ipsecctl { args, file, .. } => {
                    let args: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
                    let _ = writeln!(out, "run ipsecctl {}", args.join(" "));
                    if let Some((_, text)) = file {
                        for line in redact(text).lines().filter(|l| !l.starts_with('#')) {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                }
                Step::Fifo { lines } => {
                    for line in lines {
                        let _ = writeln!(out, "fifo {line}");
                    }
                }
                Step::FifoOnUndo { lines } => {
                    for line in lines {
                        let _ = writeln!(out, "if undone: fifo {line}");
                    }
                }
                Step::LoadKey { name, peers } => {
                    for p in peers {
                        let _ = writeln!(out, "fifo {}    # key {name}", p.line(REDACTED));
                    }
                }
            }
        }
        out
    }
}

/// The definitions of a keys file's text, by name: `name = value` lines.
fn definitions(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let (n, v) = l.trim().split_once('=')?;
            let n = n.trim();
            crate::settings::is_key_name(n).then(|| (n.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// What a write of the keys file changes, by macro name, no value shown:
/// one line each, `    NAME: added`, `changed` or `removed`; and
/// whether other lines change.
pub fn key_changes(old: Option<&[u8]>, new: &[u8]) -> String {
    let before = definitions(old.unwrap_or_default());
    let after = definitions(new);
    let value = |defs: &[(String, String)], name: &str| {
        defs.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut names: Vec<&String> = before.iter().chain(&after).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let what = match (value(&before, name), value(&after, name)) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (Some(a), Some(b)) if a != b => "changed",
            _ => continue,
        };
        let _ = writeln!(out, "    {name}: {what}");
    }
    let others = |t: &[u8]| {
        String::from_utf8_lossy(t)
            .lines()
            .filter(|l| !l.trim().is_empty() && definitions(l.as_bytes()).is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if others(old.unwrap_or_default()) != others(new) {
        out.push_str("    (other lines change)\n");
    }
    if out.is_empty() {
        out.push_str("    (no key changes)\n");
    }
    out
}
