//! A plan and what became of it, as data for `--json`: each step (file
//! edits with their unified diff, ipsecctl runs with their argv and rules,
//! FIFO lines), then the result — done, nothing to do, or failed — with
//! which steps are done and pending and the state of the journal.
//! File contents go through a redactor, as in the text plan.

use serde::Serialize;
use serde_json::Value;

use crate::manager::gateway::Gateway;
use crate::manager::plan::{Later, Plan, Step};

/// One step of a plan.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepJson {
    /// A file replaced: its unified diff (secrets redacted); for one of
    /// ipsecmgr's own records, what it records, in one line.
    Edit {
        path: String,
        created: bool,
        mode: String,
        diff: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        record: Option<String>,
    },
    /// A file moved aside.
    Move { from: String, to: String },
    /// ipsecctl run with `argv`; `rules` is the file it is given with -f,
    /// comments left out.  A run that `may_fail` deletes what may not be
    /// loaded; `undo` is run to take it back on a rollback.
    Ipsecctl {
        argv: Vec<String>,
        rules: Vec<String>,
        may_fail: bool,
        undo: Option<Vec<String>>,
    },
    /// Lines written into isakmpd's FIFO.
    Fifo { lines: Vec<String> },
    /// Lines written into the FIFO only when the run is rolled back after
    /// the ipsecctl run that follows: they take back what it sent.
    #[serde(rename = "fifo-on-undo")]
    FifoOnUndo { lines: Vec<String> },
    /// Key macro `key` loaded into isakmpd as the pre-shared key of some
    /// peers: the FIFO lines, the key redacted (it is read from the keys
    /// file when the step runs).
    #[serde(rename = "load-key")]
    LoadKey { key: String, lines: Vec<String> },
}

/// The steps of `plan`, file contents through `redact`.
pub fn steps(plan: &Plan, redact: &dyn Fn(&[u8]) -> String) -> Vec<StepJson> {
    plan.steps.iter().map(|s| step(s, redact)).collect()
}

fn step(s: &Step, redact: &dyn Fn(&[u8]) -> String) -> StepJson {
    match s {
        Step::Write {
            shown,
            old,
            new,
            mode,
            record,
            secret,
            ..
        } => {
            // the keys file: which keys change, by name, never a value
            let diff = if *secret {
                crate::manager::plan::key_changes(old.as_deref(), new)
            } else {
                unified_diff(shown, old.as_deref().map(redact), &redact(new))
            };
            StepJson::Edit {
                path: shown.clone(),
                created: old.is_none(),
                mode: format!("{mode:04o}"),
                diff,
                record: record.clone(),
            }
        }
        Step::LoadKey { name, peers } => StepJson::LoadKey {
            key: name.clone(),
            lines: peers
                .iter()
                .map(|p| p.line(crate::syntax::secrets::REDACTED))
                .collect(),
        },
        Step::Move {
            shown_from,
            shown_to,
            ..
        } => StepJson::Move {
            from: shown_from.clone(),
            to: shown_to.clone(),
        },
        Step::Ipsecctl {
            args,
            file,
            tolerant,
            undo,
        } => StepJson::Ipsecctl {
            argv: argv(args),
            rules: file
                .as_ref()
                .map(|(_, text)| {
                    redact(text)
                        .lines()
                        .filter(|l| !l.starts_with('#'))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            may_fail: *tolerant,
            undo: undo.as_deref().map(argv),
        },
        Step::Fifo { lines } => StepJson::Fifo {
            lines: lines.clone(),
        },
        Step::FifoOnUndo { lines } => StepJson::FifoOnUndo {
            lines: lines.clone(),
        },
    }
}

fn argv(args: &[String]) -> Vec<String> {
    std::iter::once("ipsecctl".to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// The diff `diff -u` would show, with two lines of context.
fn unified_diff(path: &str, old: Option<String>, new: &str) -> String {
    let old = old.unwrap_or_default();
    similar::TextDiff::from_lines(old.as_str(), new)
        .unified_diff()
        .context_radius(2)
        .header(path, path)
        .to_string()
}

/// The journal of an interrupted run, as the next mutating run finds it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JournalState {
    /// clean (no journal), rollback-pending, completion-pending, or
    /// unreadable
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The first step not known to be done (counted from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// What it means, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl JournalState {
    fn clean() -> Self {
        JournalState {
            state: "clean",
            op: None,
            next_step: None,
            steps: None,
            message: None,
        }
    }
}

/// Reads the journal the executor keeps (`{plan: {op, steps, commit},
/// next}`): a run interrupted before its commit point is rolled back by
/// the next run, one interrupted after it completed.
pub fn journal_state(gw: &Gateway) -> JournalState {
    let path = gw.journal_path();
    // read as every state file is: a FIFO or a link there is no journal
    let text =
        match crate::system::files::read_private(&path, crate::manager::state::MAX_STATE_BYTES) {
            Ok(Some(t)) => t,
            Ok(None) => return JournalState::clean(),
            Err(e) => return unreadable(&path, &e.0),
        };
    let journal: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => return unreadable(&path, &e.to_string()),
    };
    let plan = &journal["plan"];
    let (Some(op), Some(steps), Some(commit), Some(next)) = (
        plan["op"].as_str(),
        plan["steps"].as_array().map(Vec::len),
        plan["commit"].as_u64(),
        journal["next"].as_u64(),
    ) else {
        return unreadable(&path, "not a journal of ipsecmgr");
    };
    let (next, commit) = (next as usize, commit as usize);
    let rolls_back = next < commit;
    JournalState {
        state: if rolls_back {
            "rollback-pending"
        } else {
            "completion-pending"
        },
        op: Some(op.to_string()),
        next_step: Some(next),
        steps: Some(steps),
        message: Some(format!(
            "`{op}` was interrupted at step {} of {steps}; the next mutating ipsecmgr run will {}",
            next + 1,
            if rolls_back {
                "roll it back"
            } else {
                "complete it"
            }
        )),
    }
}

fn unreadable(path: &std::path::Path, why: &str) -> JournalState {
    JournalState {
        message: Some(format!(
            "{}: unreadable journal ({why}); move it away to go on",
            crate::escape::escaped_path(path)
        )),
        state: "unreadable",
        ..JournalState::clean()
    }
}

/// What a mutating command did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// planned (-n), done, unchanged (nothing to do), or failed
    pub status: &'static str,
    /// Whether the gateway was changed: a failure that left a journal to
    /// complete or roll back has changed it.
    pub changed: bool,
    /// Why there was nothing to do, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Indexes into `steps`.
    pub done: Vec<usize>,
    pub pending: Vec<usize>,
    /// An interrupted earlier run that this one completed or rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    pub warnings: Vec<String>,
    pub journal: JournalState,
    /// `--config-only`: the commands that, run once isakmpd runs, make the
    /// gateway match the configuration (none when nothing is left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub later: Option<Vec<LaterJson>>,
}

/// A command left for later, as argv and as a shell line.
#[derive(Debug, Serialize)]
pub struct LaterJson {
    pub argv: Vec<String>,
    pub command: String,
    pub does: String,
}

impl LaterJson {
    pub fn of(later: &[Later]) -> Vec<LaterJson> {
        later
            .iter()
            .map(|l| LaterJson {
                argv: l.argv.clone(),
                command: l.command(),
                does: l.does.clone(),
            })
            .collect()
    }
}

impl Outcome {
    /// Done and pending steps of a plan of `len` steps, as the journal
    /// left them (after a failure or an interruption).
    pub fn split_by_journal(len: usize, journal: &JournalState) -> (Vec<usize>, Vec<usize>) {
        match journal.next_step {
            Some(next) => ((0..next.min(len)).collect(), (next.min(len)..len).collect()),
            None => (Vec::new(), Vec::new()),
        }
    }
}

/// The document a mutating command prints with `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// add, rm, apply, down, up, or restart
    pub command: &'static str,
    /// The fragment, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
    pub dry_run: bool,
    /// `--config-only`: the files only; no ipsecctl run, nothing sent to
    /// isakmpd.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub config_only: bool,
    /// Whether keys are shown (-k) or redacted.
    pub keys_shown: bool,
    pub steps: Vec<StepJson>,
    pub result: Outcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn plan() -> Plan {
        let mut p = Plan::new("add x");
        p.push(Step::Write {
            path: PathBuf::from("/r/etc/ipsec.conf"),
            shown: "/etc/ipsec.conf".into(),
            old: Some(b"a\n".to_vec()),
            new: b"a\nb psk \"k\"\n".to_vec(),
            mode: 0o600,
            record: None,
            secret: false,
            private: false,
        });
        p.push(Step::Ipsecctl {
            args: vec!["-f".into(), "/tmp/x".into()],
            file: Some((PathBuf::from("/tmp/x"), b"# c\nflow esp\n".to_vec())),
            tolerant: true,
            undo: Some(vec!["-d".into(), "-f".into(), "/tmp/x".into()]),
        });
        p.push(Step::Fifo {
            lines: vec!["t peer".into()],
        });
        p
    }

    #[test]
    fn steps_show_diffs_argv_and_lines_through_the_redactor() {
        let redact = |t: &[u8]| String::from_utf8_lossy(t).replace("\"k\"", "<redacted>");
        let v = serde_json::to_value(steps(&plan(), &redact)).unwrap();
        assert_eq!(v[0]["kind"], "edit");
        assert_eq!(v[0]["mode"], "0600");
        assert_eq!(v[0]["created"], false);
        let diff = v[0]["diff"].as_str().unwrap();
        assert!(
            diff.starts_with("--- /etc/ipsec.conf\n+++ /etc/ipsec.conf\n"),
            "{diff}"
        );
        assert!(diff.contains("+b psk <redacted>\n"), "{diff}");
        assert_eq!(
            v[1]["argv"],
            serde_json::json!(["ipsecctl", "-f", "/tmp/x"])
        );
        assert_eq!(v[1]["rules"], serde_json::json!(["flow esp"]));
        assert_eq!(v[1]["may_fail"], true);
        assert_eq!(v[1]["undo"][1], "-d");
        assert_eq!(
            v[2],
            serde_json::json!({"kind": "fifo", "lines": ["t peer"]})
        );
    }

    #[test]
    fn journal_splits_done_from_pending() {
        let j = JournalState {
            next_step: Some(2),
            ..JournalState::clean()
        };
        assert_eq!(Outcome::split_by_journal(3, &j), (vec![0, 1], vec![2]));
        assert_eq!(
            Outcome::split_by_journal(3, &JournalState::clean()),
            (vec![], vec![])
        );
    }
}
