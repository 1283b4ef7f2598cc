//! File changes that cannot be seen half done: atomic replacement keeping
//! the file's owner and mode, and the lock that serialises ipsecmgr runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::system::files::io_reason;

fn context(what: &str, path: &Path, e: &io::Error) -> String {
    format!("{what} {}: {}", path.display(), io_reason(e))
}

/// Replaces `path` with `bytes` in one step: a temporary file beside it,
/// written and synced, given the old file's owner and mode (or `mode` for a
/// new file), then renamed over it.  Readers see the old or the new file,
/// never a mix.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.ipsecmgr-{}", std::process::id()));
    let old = fs::metadata(path).ok();
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| context("cannot create", &tmp, &e))?;
        crate::faults::write_all(&mut f, bytes).map_err(|e| context("cannot write", &tmp, &e))?;
        if let Some(old) = &old {
            // only root may give a file away; keeping our own is fine too
            let _ = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid()));
        }
        let mode = old.as_ref().map_or(mode, |m| m.mode() & 0o7777);
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| context("cannot set the mode of", &tmp, &e))?;
        f.sync_all().map_err(|e| context("cannot sync", &tmp, &e))?;
        fs::rename(&tmp, path).map_err(|e| context("cannot replace", path, &e))?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves a file, keeping its bytes and mode; across file systems by copy.
pub fn move_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        create_private_dir(parent)?;
    }
    if fs::rename(from, to).is_ok() {
        // both directories changed: the name left one and entered the other
        for dir in [to.parent(), from.parent()].into_iter().flatten() {
            sync_dir(dir);
        }
        return Ok(());
    }
    let bytes = fs::read(from).map_err(|e| context("cannot read", from, &e))?;
    let mode = fs::metadata(from)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o600);
    atomic_write(to, &bytes, mode)?;
    fs::remove_file(from).map_err(|e| context("cannot remove", from, &e))?;
    if let Some(parent) = from.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Creates a directory (and its parents) only its owner can enter.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(format!("{}: not a directory", dir.display())),
        Err(_) => {}
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| context("cannot create", dir, &e))
}

/// The lock serialising ipsecmgr runs on one gateway: held while the value
/// lives, released by the kernel if the process dies.
pub struct Lock {
    _file: Flock<File>,
}

/// How long a second run waits for the lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

impl Lock {
    /// Takes the lock in `state_dir`, waiting up to `wait`; `what` says
    /// who holds it, for the run that has to wait.
    pub fn acquire(state_dir: &Path, what: &str, wait: Duration) -> Result<Lock, String> {
        create_private_dir(state_dir)?;
        let path = state_dir.join("lock");
        let start = Instant::now();
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| context("cannot open", &path, &e))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut locked) => {
                    let note = format!("pid {}: ipsecmgr {what}\n", std::process::id());
                    let _ = locked.set_len(0);
                    let _ = locked.rewind();
                    let _ = crate::faults::write_all(&mut *locked, note.as_bytes());
                    let _ = locked.sync_all();
                    return Ok(Lock { _file: locked });
                }
                Err((mut file, _)) if start.elapsed() < wait => {
                    let _ = file.rewind();
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((mut file, _)) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    let holder = if holder.is_empty() {
                        "another ipsecmgr run"
                    } else {
                        holder
                    };
                    return Err(format!(
                        "{} is locked by {holder}; waited {} seconds",
                        path.display(),
                        wait.as_secs()
                    ));
                }
            }
        }
    }
}

/// A path for a scratch file in `dir`, unique to this process.
pub fn scratch_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}-{}.conf", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode_and_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.conf");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        atomic_write(&p, b"new\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        let q = dir.path().join("g.conf");
        atomic_write(&q, b"x", 0o600).unwrap();
        assert_eq!(fs::metadata(&q).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    #[test]
    fn lock_is_exclusive_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = Lock::acquire(dir.path(), "rm customer-a", LOCK_WAIT).unwrap();
        let e = Lock::acquire(dir.path(), "add x", Duration::from_millis(100))
            .err()
            .expect("the second lock must fail");
        assert!(e.contains("ipsecmgr rm customer-a"), "{e}");
        drop(held);
        assert!(Lock::acquire(dir.path(), "add x", Duration::from_millis(100)).is_ok());
    }
}
