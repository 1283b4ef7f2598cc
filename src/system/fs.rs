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
    format!(
        "{what} {}: {}",
        crate::escape::escaped_path(path),
        io_reason(e)
    )
}

/// What marks ipsecmgr's temporary files: `.NAME.ipsecmgr-…` beside the
/// file they replace.
const TEMP_MARK: &str = ".ipsecmgr-";

/// A name for a temporary file beside `name`: the process id, a number
/// the process counts up and bits no other process shares, so that a run
/// reusing the id of one that was killed does not meet its leftovers.
fn temp_name(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    h.write_u32(nanos);
    format!(
        ".{name}{TEMP_MARK}{}-{:016x}",
        std::process::id(),
        h.finish()
    )
}

/// Whether `name` is one of ipsecmgr's temporary files (of this version,
/// `.NAME.ipsecmgr-PID-HEX`, or of older ones, `.NAME.ipsecmgr-PID`).
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let name = name.as_bytes();
    let Some(at) = name
        .windows(TEMP_MARK.len())
        .rposition(|w| w == TEMP_MARK.as_bytes())
    else {
        return false;
    };
    let tail = &name[at + TEMP_MARK.len()..];
    name.starts_with(b".")
        && at > 1
        && !tail.is_empty()
        && tail
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b) || *b == b'-')
}

/// The directory a temporary file for `path` goes in (its own, so that a
/// rename replaces it in one step), and the name it is made after.
fn beside(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    (dir, name)
}

/// Creates a new file in `dir` named after `name`, never an existing one
/// and never through a link (`O_CREAT|O_EXCL`); another name is tried if
/// one is taken.
fn create_temp(dir: &Path, name: &str) -> Result<(File, PathBuf), String> {
    let mut last = None;
    for _ in 0..16 {
        let tmp = dir.join(temp_name(name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(e) => return Err(context("cannot create", &tmp, &e)),
        }
    }
    let (tmp, e) = last.expect("at least one try");
    Err(context("cannot create", &tmp, &e))
}

/// Replaces `path` with `bytes` in one step: a temporary file beside it,
/// written and synced, given the old file's owner and mode (or `mode` for a
/// new file), then renamed over it.  Readers see the old or the new file,
/// never a mix.  A link at `path` is replaced, never written through.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let (dir, name) = beside(path);
    let old = fs::symlink_metadata(path).ok().filter(|m| m.is_file());
    let (mut f, tmp) = create_temp(dir, &name)?;
    let result = (|| {
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

/// Removes the temporary files a killed run left in `dir` (some hold
/// keys), or with `every_file` all its regular files (a scratch directory);
/// returns their paths.  Only under the lock: a live run's temporaries are
/// its own.
pub fn remove_stale_temps(dir: &Path, every_file: bool) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let regular = e.file_type().is_ok_and(|t| t.is_file());
        let stale = every_file || is_temp_name(&e.file_name());
        if regular && stale && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    if !removed.is_empty() {
        sync_dir(dir);
    }
    removed
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Moves a file, keeping its bytes and mode; across file systems by copy.
/// An existing file at `to` is never replaced: the move fails instead
/// (unless `to` is already `from`, a move cut short after its link).
pub fn move_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        create_private_dir(parent)?;
    }
    match fs::hard_link(from, to) {
        Ok(()) => return unlink_moved(from, to),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if same_file(from, to) {
                return unlink_moved(from, to);
            }
            return Err(format!(
                "cannot move {} to {}: a file is already there, and is not replaced",
                crate::escape::escaped_path(from),
                crate::escape::escaped_path(to)
            ));
        }
        // no hard link across file systems, or on some: copy below
        Err(_) => {}
    }
    let bytes = fs::read(from).map_err(|e| context("cannot read", from, &e))?;
    let mode = fs::metadata(from)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o600);
    write_new(to, &bytes, mode)?;
    fs::remove_file(from).map_err(|e| context("cannot remove", from, &e))?;
    if let Some(parent) = from.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// The second half of a move by link: the old name goes.
fn unlink_moved(from: &Path, to: &Path) -> Result<(), String> {
    fs::remove_file(from).map_err(|e| context("cannot remove", from, &e))?;
    // both directories changed: the name left one and entered the other
    for dir in [to.parent(), from.parent()].into_iter().flatten() {
        sync_dir(dir);
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::symlink_metadata(a), fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Writes a file that must not exist yet: written whole under a temporary
/// name, then given its name with link(2), which fails rather than replace
/// a file; where links cannot be made, renamed after checking that the name
/// is free (runs are serialised by the lock).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let exists = || {
        Err(format!(
            "{}: a file is already there, and is not replaced",
            crate::escape::escaped_path(path)
        ))
    };
    let (dir, name) = beside(path);
    let (mut f, tmp) = create_temp(dir, &name)?;
    let result = (|| {
        crate::faults::write_all(&mut f, bytes).map_err(|e| context("cannot write", &tmp, &e))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| context("cannot set the mode of", &tmp, &e))?;
        f.sync_all().map_err(|e| context("cannot sync", &tmp, &e))?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => exists(),
            Err(_) if fs::symlink_metadata(path).is_ok() => exists(),
            Err(_) => fs::rename(&tmp, path).map_err(|e| context("cannot create", path, &e)),
        }
    })();
    let _ = fs::remove_file(&tmp);
    sync_dir(dir);
    result
}

/// Creates a directory (and its parents) only its owner can enter.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(format!(
                "{}: not a directory",
                crate::escape::escaped_path(dir)
            ));
        }
        Err(_) => {}
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| context("cannot create", dir, &e))
}

fn owned_by_us_or_root(meta: &fs::Metadata) -> bool {
    meta.uid() == 0 || meta.uid() == nix::unistd::geteuid().as_raw()
}

/// The state directory holds keys (applied copies) and says what runs do
/// (the journal): anyone else who could write it could plant links or
/// journals there.  It must be a directory of root or the current user
/// that neither its group nor others may write.
pub fn check_state_dir(dir: &Path) -> Result<(), String> {
    let meta = fs::metadata(dir).map_err(|e| context("cannot use", dir, &e))?;
    if !meta.is_dir() {
        return Err(format!(
            "{}: not a directory",
            crate::escape::escaped_path(dir)
        ));
    }
    if !owned_by_us_or_root(&meta) {
        return Err(format!(
            "{}: the state directory must belong to root or the current user (it belongs to uid {})",
            crate::escape::escaped_path(dir),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: the state directory may be written by its group or others (mode {:o}); make it 0700",
            crate::escape::escaped_path(dir),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// The lock serialising ipsecmgr runs on one gateway: held while the value
/// lives, released by the kernel if the process dies.
pub struct Lock {
    _file: Flock<File>,
}

/// How long a second run waits for the lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// What the holder of a lock wrote in it (its pid and command), if anything.
fn holder_note(file: &mut File) -> Option<String> {
    let mut note = String::new();
    // a note is a line; a lock file made large is not read whole
    let _ = file.take(4096).read_to_string(&mut note);
    let note = note.trim();
    (!note.is_empty()).then(|| note.to_string())
}

impl Lock {
    /// Whether a run holds the lock in `state_dir` now, and then what it
    /// wrote there, if anything.  Only looks: the lock file is not
    /// created, and a free lock is let go at once.
    pub fn holder(state_dir: &Path) -> Option<Option<String>> {
        // a FIFO planted there would keep a plain open waiting
        let file = OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
            .open(state_dir.join("lock"))
            .ok()
            .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(_free) => None,
            Err((mut file, _)) => Some(holder_note(&mut file)),
        }
    }

    /// Takes the lock in `state_dir`, waiting up to `wait`; `what` says
    /// who holds it, for the run that has to wait.
    pub fn acquire(state_dir: &Path, what: &str, wait: Duration) -> Result<Lock, String> {
        create_private_dir(state_dir)?;
        check_state_dir(state_dir)?;
        let path = state_dir.join("lock");
        let start = Instant::now();
        loop {
            // never through a link: one planted there would have its
            // target truncated; nor waiting for a FIFO's other end
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(
                    (nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits(),
                )
                .open(&path)
                .map_err(|e| context("cannot open", &path, &e))?;
            let meta = file
                .metadata()
                .map_err(|e| context("cannot open", &path, &e))?;
            if !meta.is_file() || !owned_by_us_or_root(&meta) {
                return Err(format!(
                    "{}: not a regular file of root or the current user; remove it",
                    crate::escape::escaped_path(&path)
                ));
            }
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
                    let holder = holder_note(&mut file);
                    let holder = holder.as_deref().unwrap_or("another ipsecmgr run");
                    return Err(format!(
                        "{} is locked by {holder}; waited {} seconds",
                        crate::escape::escaped_path(&path),
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

/// `dir/stem`, or `dir/stem.N` with the first N no file has: a file moved
/// aside never replaces one moved there before.
pub fn free_name(dir: &Path, stem: &str) -> PathBuf {
    let taken = |p: &Path| fs::symlink_metadata(p).is_ok();
    std::iter::once(dir.join(stem))
        .chain((1..).map(|n| dir.join(format!("{stem}.{n}"))))
        .find(|p| !taken(p))
        .unwrap_or_else(|| dir.join(stem))
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
    fn a_leftover_of_a_killed_run_with_our_pid_does_not_block_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.conf");
        let leftover = dir
            .path()
            .join(format!(".f.conf.ipsecmgr-{}", std::process::id()));
        fs::write(&leftover, "psk \"k\"\n").unwrap();
        atomic_write(&p, b"new\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert!(is_temp_name(leftover.file_name().unwrap()));
        assert!(is_temp_name(".f.conf.ipsecmgr-12-00ff".as_ref()));
        assert!(!is_temp_name("f.conf".as_ref()));
        assert!(!is_temp_name(".f.ipsecmgr-notours".as_ref()));
        assert_eq!(remove_stale_temps(dir.path(), false), vec![leftover]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_move_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("sub/b"));
        fs::write(&a, "a\n").unwrap();
        fs::create_dir_all(b.parent().unwrap()).unwrap();
        fs::write(&b, "b\n").unwrap();
        let e = move_file(&a, &b).unwrap_err();
        assert!(e.contains("is not replaced"), "{e}");
        assert_eq!(fs::read_to_string(&b).unwrap(), "b\n");
        fs::remove_file(&b).unwrap();
        move_file(&a, &b).unwrap();
        assert_eq!(fs::read_to_string(&b).unwrap(), "a\n");
        assert!(!a.exists());
        // a move cut short after its link is finished
        fs::hard_link(&b, &a).unwrap();
        move_file(&a, &b).unwrap();
        assert!(!a.exists() && b.exists());
    }

    #[test]
    fn a_lock_planted_as_a_link_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        create_private_dir(&state).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, state.join("lock")).unwrap();
        assert!(Lock::acquire(&state, "x", Duration::from_millis(10)).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
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
