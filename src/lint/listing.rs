//! The `*.conf` entries of a directory lint looks at.  Symbolic links are
//! followed, as ipsecctl follows them; anything that is not a regular file
//! (a FIFO, a link loop, a dangling link) is listed too, so that lint names
//! it instead of passing over it.  Directories are left out: a directory
//! walk goes into them.

use std::path::{Path, PathBuf};

use crate::system::files::io_reason;

/// What a directory walk found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every `*.conf` entry that is not a directory, sorted.
    pub entries: Vec<PathBuf>,
    /// What could not be listed, with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Lists `dir`'s `*.conf` entries, down to `max_depth` levels; a `dir`
/// that does not exist has none.
pub fn conf_entries(dir: &Path, max_depth: usize) -> Listing {
    let mut out = Listing::default();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).max_depth(max_depth) {
        let entry = match entry {
            Ok(e) => e,
            // no directory at all holds no files
            Err(e)
                if e.depth() == 0
                    && e.io_error().map(std::io::Error::kind)
                        == Some(std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let why = e.io_error().map_or_else(|| e.to_string(), io_reason);
                out.unreadable.push((path, why));
                continue;
            }
        };
        if entry.path().extension().is_none_or(|x| x != "conf") {
            continue;
        }
        let is_dir = if entry.path_is_symlink() {
            std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir())
        } else {
            entry.file_type().is_dir()
        };
        if !is_dir {
            out.entries.push(entry.into_path());
        }
    }
    out.entries.sort();
    out
}

/// Why `path` is not a regular file, when it is not one.
pub fn not_a_file(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) => Some(io_reason(&e)),
        Ok(m) => crate::system::files::file_kind(&m).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_links_fifos_and_loops_but_not_directories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("plain.conf"), "").unwrap();
        std::fs::write(d.join("notes.txt"), "").unwrap();
        std::fs::write(d.join("target"), "").unwrap();
        std::os::unix::fs::symlink("target", d.join("link.conf")).unwrap();
        std::os::unix::fs::symlink("loop.conf", d.join("loop.conf")).unwrap();
        std::os::unix::fs::symlink(".", d.join("here.conf")).unwrap();
        std::fs::create_dir(d.join("sub.conf")).unwrap();
        nix::unistd::mkfifo(&d.join("fifo.conf"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let got = conf_entries(d, 1);
        let names: Vec<String> = got
            .entries
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["fifo.conf", "link.conf", "loop.conf", "plain.conf"]);
        assert!(got.unreadable.is_empty(), "{:?}", got.unreadable);
        assert_eq!(not_a_file(&d.join("link.conf")), None);
        assert_eq!(
            not_a_file(&d.join("fifo.conf")).as_deref(),
            Some("is a FIFO, not a regular file")
        );
        assert!(not_a_file(&d.join("loop.conf")).is_some());
        let none = conf_entries(&d.join("missing"), 1);
        assert!(none.entries.is_empty() && none.unreadable.is_empty());
    }
}
