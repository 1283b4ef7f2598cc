//! Writing commands into isakmpd's FIFO.  It is opened without blocking and
//! must be a FIFO, not a link: when no isakmpd reads it, that is reported at
//! once instead of hanging.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::system::files::io_reason;

/// How long a full FIFO may stay full before giving up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks that isakmpd reads the FIFO, without writing to it.
pub fn check(fifo: &Path) -> Result<(), String> {
    open(fifo).map(|_| ())
}

fn open(fifo: &Path) -> Result<std::fs::File, String> {
    let shown = fifo.display();
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc_flags())
        .open(fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == nix::errno::Errno::ENXIO as i32 => {
                format!("isakmpd is not running: nothing reads {shown}")
            }
            Some(code) if code == nix::errno::Errno::ENOENT as i32 => {
                format!("isakmpd is not running: {shown} does not exist")
            }
            Some(code) if code == nix::errno::Errno::ELOOP as i32 => {
                format!("{shown} is a symbolic link, not isakmpd's FIFO")
            }
            _ => format!("cannot open {shown}: {}", io_reason(&e)),
        })?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat {shown}: {}", io_reason(&e)))?;
    if !meta.file_type().is_fifo() {
        return Err(format!("{shown} is not a FIFO"));
    }
    Ok(f)
}

/// Sends `lines`, each followed by a newline.
pub fn send(fifo: &Path, lines: &[String]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let shown = fifo.display();
    let mut f = open(fifo)?;
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut rest = text.as_bytes();
    let start = Instant::now();
    while !rest.is_empty() {
        match f.write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && start.elapsed() < WRITE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Err(format!("isakmpd does not read {shown}"));
            }
            Err(e) => return Err(format!("cannot write to {shown}: {}", io_reason(&e))),
        }
    }
    Ok(())
}

fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC)
        .bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn no_reader_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let start = Instant::now();
        let e = send(&p, &["t x".into()]).unwrap_err();
        assert!(e.starts_with("isakmpd is not running"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(1));
        let e = send(&dir.path().join("none"), &["t x".into()]).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        assert!(
            send(&file, &["t x".into()])
                .unwrap_err()
                .contains("not a FIFO")
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(
            send(&link, &["t x".into()])
                .unwrap_err()
                .contains("symbolic link")
        );
    }

    #[test]
    fn lines_reach_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // as isakmpd does: open for reading and writing, so it never blocks
        let mut reader = OpenOptions::new().read(true).write(true).open(&p).unwrap();
        send(&p, &["c a".into(), "t b".into()]).unwrap();
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"c a\nt b\n");
    }
}
