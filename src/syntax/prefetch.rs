//! Reading included files ahead, on a second thread.  A gateway with a file
//! per tunnel spends most of a run opening files; the files the main file
//! names in plain `include "path"` lines are read in their order while the
//! first thread parses, and handed over when the loader reaches each
//! include.  Whatever was not foreseen (macros, nested includes, skipped
//! lines) is read as usual: this only changes when a file is read.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::system::files::{self, FileData, ReadError};

/// Files read ahead but not yet taken: enough to keep the reader busy,
/// few enough to keep memory flat.
const AHEAD: usize = 64;

/// Below this many includes a second thread costs more than it saves.
pub const WORTH_IT: usize = 16;

pub type ReadResult = Result<FileData, ReadError>;

/// A file read ahead: where it was read from, and what came of it.
pub type Read = (PathBuf, ReadResult);

/// The paths of the first `max` plain `include "path"` lines of `text`, in
/// order (the loader reads no more than its limit of includes).  Only the
/// lines where the word stands are looked at: a file of tunnels and no
/// includes is passed over at the speed of a substring search.
pub fn plain_includes(text: &[u8], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for at in memchr::memmem::find_iter(text, b"include") {
        if out.len() >= max {
            break;
        }
        let start = memchr::memrchr(b'\n', &text[..at]).map_or(0, |n| n + 1);
        if !text[start..at].iter().all(u8::is_ascii_whitespace) {
            continue; // not the line's first word
        }
        let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |n| at + n);
        out.extend(plain_include(&text[start..end]));
    }
    out
}

/// The path of a line `include "path"`, when it is one.
fn plain_include(line: &[u8]) -> Option<String> {
    let line = line.trim_ascii();
    let rest = line.strip_prefix(b"include")?;
    let rest = rest.trim_ascii_start();
    if rest.len() == line.len() - "include".len() {
        return None; // `includefoo`
    }
    let quoted = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if quoted.iter().any(|&b| matches!(b, b'"' | b'\\' | b'$')) {
        return None;
    }
    String::from_utf8(quoted.to_vec()).ok()
}

/// Reads `paths` in order into `out`, stopping when nobody listens.
pub fn read_ahead(paths: Vec<PathBuf>, limit: u64, out: SyncSender<Read>) {
    for path in paths {
        let data = files::read_regular(&path, limit);
        if out.send((path, data)).is_err() {
            return;
        }
    }
}

/// The loader's end: the next file read ahead, taken only when it is the
/// one wanted.
pub struct Ahead {
    rx: Receiver<Read>,
    next: Option<Read>,
}

impl Ahead {
    pub fn new(rx: Receiver<Read>) -> Self {
        Ahead { rx, next: None }
    }

    /// `path` as read ahead, or `None` when it was not the next one.
    pub fn take(&mut self, path: &PathBuf) -> Option<ReadResult> {
        if self.next.is_none() {
            self.next = self.rx.recv().ok();
        }
        match &self.next {
            Some((p, _)) if p == path => self.next.take().map(|(_, data)| data),
            _ => None,
        }
    }
}

/// The capacity of the channel between the two.
pub fn channel() -> (SyncSender<Read>, Receiver<Read>) {
    std::sync::mpsc::sync_channel(AHEAD)
}

#[cfg(test)]
mod tests {
    use super::plain_includes;

    #[test]
    fn only_plain_include_lines() {
        let text = b"include \"/a.conf\"\n  include   \"/b c.conf\"  \n\
            includex \"/no\"\ninclude $dir\ninclude \"/x$y\"\n# include \"/c\"\n\
            include \"/d\" \\\ninclude /e\n";
        assert_eq!(plain_includes(text, 10), vec!["/a.conf", "/b c.conf"]);
        assert_eq!(plain_includes(text, 1), vec!["/a.conf"]);
        assert!(plain_includes(text, 0).is_empty());
        // the word twice on a line, after other words, at the very end,
        // and a line of blanks before it
        let text = b"\r\t include \"/f\" include \"/g\"\nx include \"/h\"\ninclude \"/i\"";
        assert_eq!(plain_includes(text, 10), vec!["/i"]);
        let text = b"\x0c include \"/j\"\r\n \n\tinclude\t\"/k\"\ninclude";
        assert_eq!(plain_includes(text, 10), vec!["/j", "/k"]);
    }
}
