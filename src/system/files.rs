//! Reading configuration and key files: regular files only, of a sane size,
//! with the ownership and mode ipsecctl insists on for secrets.

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Configuration files larger than this are refused rather than read.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

#[derive(Debug)]
pub struct FileData {
    pub bytes: Vec<u8>,
    pub uid: u32,
    pub mode: u32,
    /// Device and inode: which file this is, however it was named.
    pub identity: (u64, u64),
}

/// Why a file could not be read, worded for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

/// The reason an I/O operation failed, without Rust's "(os error N)".
pub fn io_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

pub fn file_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("is a directory")
    } else if t.is_fifo() {
        Some("is a FIFO, not a regular file")
    } else if t.is_char_device() || t.is_block_device() {
        Some("is a device, not a regular file")
    } else if t.is_socket() {
        Some("is a socket, not a regular file")
    } else {
        Some("is not a regular file")
    }
}

thread_local! {
    /// Bytes that stand in for files while a planned edit is checked: what
    /// the gateway will read there once the edit is made, since nothing may
    /// be written before the check.  Set only by [`with_stand_ins`].
    static STAND_INS: std::cell::RefCell<Vec<(PathBuf, Vec<u8>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with each of `files` (path, bytes) read, on this thread, as if
/// the file at that path held those bytes.
pub fn with_stand_ins<T>(files: &[(PathBuf, Vec<u8>)], f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            STAND_INS.with(|s| s.borrow_mut().clear());
        }
    }
    STAND_INS.with(|s| *s.borrow_mut() = files.to_vec());
    let _reset = Reset;
    f()
}

/// The stand-in for `path`, as a private file of the current user with an
/// identity no real file has.
fn stand_in(path: &Path) -> Option<FileData> {
    STAND_INS.with(|s| {
        let s = s.borrow();
        let i = s.iter().position(|(p, _)| p == path)?;
        Some(FileData {
            bytes: s[i].1.clone(),
            uid: nix::unistd::getuid().as_raw(),
            mode: 0o100600,
            identity: (u64::MAX, i as u64),
        })
    })
}

/// Reads a whole regular file of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<FileData, ReadError> {
    if let Some(data) = stand_in(path) {
        return Ok(data);
    }
    read_opened(path, limit, nix::fcntl::OFlag::empty())
}

/// A file of ipsecmgr's own state: a regular file of at most `limit`
/// bytes, not reached through a symbolic link (one planted there could
/// lead anywhere: a device, a file of a size without end); `None` when
/// there is none.
pub fn read_private(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError(io_reason(&e))),
        Ok(_) => {}
    }
    read_opened(path, limit, nix::fcntl::OFlag::O_NOFOLLOW).map(|d| Some(d.bytes))
}

fn read_opened(path: &Path, limit: u64, flags: nix::fcntl::OFlag) -> Result<FileData, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    // without O_NONBLOCK, opening a FIFO would wait for a writer; what was
    // opened is then checked to be a regular file before anything is read
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NONBLOCK | flags).bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code)
                if code == nix::errno::Errno::ELOOP as i32
                    && flags.contains(nix::fcntl::OFlag::O_NOFOLLOW) =>
            {
                ReadError("is a symbolic link, not a regular file".into())
            }
            _ => ReadError(io_reason(&e)),
        })?;
    let meta = file.metadata().map_err(|e| ReadError(io_reason(&e)))?;
    if let Some(why) = file_kind(&meta) {
        return Err(ReadError(why.into()));
    }
    if meta.len() > limit {
        return Err(ReadError(format!(
            "file too large ({} bytes, the limit is {limit})",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError(io_reason(&e)))?;
    if bytes.len() as u64 > limit {
        return Err(ReadError(format!(
            "file too large (the limit is {limit} bytes)"
        )));
    }
    Ok(FileData {
        bytes,
        uid: meta.uid(),
        mode: meta.mode(),
        identity: (meta.dev(), meta.ino()),
    })
}

/// Reads standard input to its end.
pub fn read_stdin() -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ReadError("input too large".into()));
    }
    Ok(bytes)
}

/// What ipsecctl demands of the file it loads, since it holds secrets:
/// owned by root or the user running it, and no access for others and no
/// write or execute for the group.
pub fn secrecy_problem(data: &FileData) -> Option<&'static str> {
    let me = nix::unistd::getuid().as_raw();
    if data.uid != 0 && data.uid != me {
        Some("owner not root or current user")
    } else if data.mode & 0o037 != 0 {
        Some("group writable or world read/writable")
    } else {
        None
    }
}

/// Maps gateway paths into a tree rooted elsewhere (`--root`): absolute
/// paths go under the root, and relative ones are taken from the root too,
/// the directory ipsecctl runs in at boot.  A mapped path never leaves the
/// root: `..` is resolved by name, and one that would climb above the root
/// is refused ([`Root::try_map`]) or stays at the root ([`Root::map`]), as
/// `/..` is `/` on the gateway itself.
#[derive(Debug, Clone, Default)]
pub struct Root(pub Option<PathBuf>);

/// Why a path cannot be mapped under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escapes(pub String);

impl Root {
    /// Where `path` is, under the root when there is one.
    pub fn map(&self, path: &str) -> PathBuf {
        match &self.0 {
            None => PathBuf::from(path),
            Some(root) => root.join(lexically_inside(path).0),
        }
    }

    /// [`Root::map`], refusing a path whose `..` would leave the root.
    pub fn try_map(&self, path: &str) -> Result<PathBuf, Escapes> {
        if let Some(root) = &self.0
            && lexically_inside(path).1
        {
            return Err(Escapes(format!(
                "{}: leads out of the root directory {} ('..' above it)",
                crate::escape::escaped(path),
                crate::escape::escaped_path(root)
            )));
        }
        Ok(self.map(path))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Where the gateway path `path` leads under the root, every symbolic
    /// link on the way followed as the gateway itself would follow it: a
    /// link's absolute target is taken under the root, a relative one from
    /// the link's directory, and a `..` after a link goes up from where the
    /// link leads.  A path or link that climbs above the root, or a chain
    /// of more than [`MAX_LINKS`] links, is refused, so that nothing out of
    /// the root is read (a checkout's link to the CI runner's own files).
    /// Without a root, the path as it is: the system follows its links.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, Escapes> {
        let Some(root) = &self.0 else {
            return Ok(path.to_path_buf());
        };
        let out = |why: String| Escapes(format!("{}: {why}", crate::escape::escaped_path(path)));
        // what is left to walk, last part first
        let mut todo: Vec<std::ffi::OsString> = Vec::new();
        push_parts(&mut todo, path);
        let mut done = PathBuf::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            if part == ".." {
                if !done.pop() {
                    return Err(out(format!(
                        "leads out of the root directory {} ('..' above it)",
                        crate::escape::escaped_path(root)
                    )));
                }
                continue;
            }
            let next = done.join(&part);
            let here = root.join(&next);
            let is_link =
                std::fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link {
                done = next;
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(out(format!("more than {MAX_LINKS} symbolic links")));
            }
            let target = std::fs::read_link(&here).map_err(|e| {
                out(format!(
                    "{}: {}",
                    crate::escape::escaped_path(&next),
                    io_reason(&e)
                ))
            })?;
            if target.is_absolute() {
                done = PathBuf::new();
            }
            let before = todo.len();
            push_parts(&mut todo, &target);
            // a target climbing above the root leads out of it: said as
            // the link that does it
            let mut depth = done.components().count() as isize;
            for p in todo[before..].iter().rev() {
                depth += if p == ".." { -1 } else { 1 };
                if depth < 0 {
                    return Err(out(format!(
                        "the link /{} leads out of the root directory {} (to {})",
                        crate::escape::escaped_path(&next),
                        crate::escape::escaped_path(root),
                        crate::escape::escaped_path(&target)
                    )));
                }
            }
        }
        Ok(root.join(done))
    }
}

/// Symbolic links one path may pass through (OpenBSD's SYMLOOP_MAX).
pub const MAX_LINKS: usize = 32;

/// [`Root::resolve`] for many paths in few directories (a gateway's
/// include lines): each directory is resolved once, and a file in it costs
/// one look at whether it is a link.
#[derive(Debug, Default)]
pub struct Resolver {
    dirs: std::collections::HashMap<PathBuf, Result<PathBuf, Escapes>>,
}

impl Resolver {
    pub fn resolve(&mut self, root: &Root, path: &Path) -> Result<PathBuf, Escapes> {
        let (Some(_), Some(dir), Some(name)) = (&root.0, path.parent(), path.file_name()) else {
            return root.resolve(path);
        };
        if name == ".." {
            return root.resolve(path);
        }
        let dir = match self
            .dirs
            .entry(dir.to_path_buf())
            .or_insert_with(|| root.resolve(dir))
        {
            Ok(dir) => dir.clone(),
            // said of the whole path
            Err(_) => return root.resolve(path),
        };
        let actual = dir.join(name);
        match std::fs::symlink_metadata(&actual) {
            Ok(m) if m.file_type().is_symlink() => root.resolve(path),
            _ => Ok(actual),
        }
    }
}

/// Pushes the parts of `path` onto `todo` (a stack: last part first), `..`
/// kept, `.` and the root left out.
fn push_parts(todo: &mut Vec<std::ffi::OsString>, path: &Path) {
    use std::path::Component;
    let start = todo.len();
    for c in path.components() {
        match c {
            Component::Normal(p) => todo.push(p.to_os_string()),
            Component::ParentDir => todo.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    todo[start..].reverse();
}

/// `path` relative to the root with `.` and `..` resolved by name, and
/// whether a `..` tried to climb above the root.
fn lexically_inside(path: &str) -> (PathBuf, bool) {
    use std::path::Component;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    let mut escaped = false;
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => escaped |= parts.pop().is_none(),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (parts.iter().collect(), escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_paths_stay_under_the_root() {
        let root = Root(Some(PathBuf::from("/r")));
        assert_eq!(root.map("/etc/ipsec.conf"), Path::new("/r/etc/ipsec.conf"));
        assert_eq!(root.map("etc/x/../y"), Path::new("/r/etc/y"));
        assert_eq!(root.map("/../../etc/shadow"), Path::new("/r/etc/shadow"));
        let e = root.try_map("/../../../../etc/shadow").unwrap_err();
        assert!(e.0.contains("leads out of the root directory /r"), "{e:?}");
        assert!(root.try_map("/etc/../etc/ipsec.conf").is_ok());
        assert_eq!(
            Root(None).try_map("/../etc/x").unwrap(),
            Path::new("/../etc/x")
        );
    }

    #[test]
    fn links_are_followed_inside_the_root_only() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path().join("r");
        std::fs::create_dir_all(r.join("etc/ipsec.d/sub")).unwrap();
        std::fs::write(r.join("etc/ipsec.d/real.conf"), "x").unwrap();
        let root = Root(Some(r.clone()));
        let resolve = |p: &str| root.resolve(Path::new(p));
        // plain paths, and links with absolute targets taken under the root
        assert_eq!(
            resolve("/etc/ipsec.d/real.conf").unwrap(),
            r.join("etc/ipsec.d/real.conf")
        );
        symlink("/etc/ipsec.d/real.conf", r.join("etc/ipsec.d/abs.conf")).unwrap();
        assert_eq!(
            resolve("/etc/ipsec.d/abs.conf").unwrap(),
            r.join("etc/ipsec.d/real.conf")
        );
        // a relative target from the link's directory; `..` after a link
        symlink("../real.conf", r.join("etc/ipsec.d/sub/rel.conf")).unwrap();
        assert_eq!(
            resolve("/etc/ipsec.d/sub/rel.conf").unwrap(),
            r.join("etc/ipsec.d/real.conf")
        );
        symlink("/etc/ipsec.d/sub", r.join("etc/d")).unwrap();
        assert_eq!(
            resolve("/etc/d/../real.conf").unwrap(),
            r.join("etc/ipsec.d/real.conf")
        );
        // out of the root: refused, naming the link
        symlink(
            "../../../../../../etc/passwd",
            r.join("etc/ipsec.d/out.conf"),
        )
        .unwrap();
        let e = resolve("/etc/ipsec.d/out.conf").unwrap_err();
        assert!(
            e.0.contains("the link /etc/ipsec.d/out.conf leads out of the root"),
            "{e:?}"
        );
        symlink("../../..", r.join("etc/up")).unwrap();
        assert!(resolve("/etc/up/x").is_err());
        // a loop
        symlink("loop2", r.join("etc/loop1")).unwrap();
        symlink("loop1", r.join("etc/loop2")).unwrap();
        assert!(
            resolve("/etc/loop1")
                .unwrap_err()
                .0
                .contains("more than 32")
        );
        // a missing file is where it would be
        assert_eq!(
            resolve("/etc/none/x.conf").unwrap(),
            r.join("etc/none/x.conf")
        );
        assert_eq!(
            Root(None).resolve(Path::new("/etc/x")).unwrap(),
            Path::new("/etc/x")
        );
    }
}
