//! Writing commands into isakmpd's FIFO.  It is opened without blocking and
//! must be a FIFO, not a link: when no isakmpd reads it, that is reported at
//! once instead of hanging.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::system::files::io_reason;

/// How long a full FIFO may stay full, with nothing taken from it, before
/// giving up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most one write(2) to a pipe puts down whole or not at all.  isakmpd
/// (ui.c: ui_handler) reads whatever the pipe holds and cuts it at
/// newlines, so a line written in pieces can be interleaved with another
/// writer's, and one cut off by a failure is joined to whatever comes next.
pub const PIPE_BUF: usize = nix::libc::PIPE_BUF;

/// Checks that isakmpd reads the FIFO, without writing to it.
pub fn check(fifo: &Path) -> Result<(), String> {
    open(fifo).map(|_| ())
}

/// Checks that each line can be sent whole, as one write of at most
/// [`PIPE_BUF`] bytes, and holds no newline (which would start another
/// command).
pub fn check_lines(lines: &[String]) -> Result<(), String> {
    for line in lines {
        let shown: String = line
            .chars()
            .take(60)
            .collect::<String>()
            .escape_debug()
            .to_string();
        if line.contains(['\n', '\0']) {
            return Err(format!(
                "refusing to write a FIFO line holding a newline or NUL: \"{shown}...\""
            ));
        }
        if line.len() + 1 > PIPE_BUF {
            return Err(format!(
                "refusing to write a FIFO line of {} bytes, longer than the {} a pipe takes in one piece: \"{shown}...\"",
                line.len() + 1,
                PIPE_BUF
            ));
        }
    }
    Ok(())
}

fn open(fifo: &Path) -> Result<std::fs::File, String> {
    let shown = crate::escape::escaped_path(fifo);
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
    send_lines(fifo, lines, &mut |_| {}).map_err(|u| u.why)
}

/// Lines not sent: how many were (from the start), and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsent {
    pub sent: usize,
    pub why: String,
}

/// Sends `lines`, each whole in one write.  Before waiting on a full FIFO,
/// `waiting` is told how many lines are in, so that a run killed while it
/// waits can be taken up after them.
pub fn send_lines(
    fifo: &Path,
    lines: &[String],
    waiting: &mut dyn FnMut(usize),
) -> Result<(), Unsent> {
    if lines.is_empty() {
        return Ok(());
    }
    let stop = |sent: usize, why: String| Unsent { sent, why };
    check_lines(lines).map_err(|e| stop(0, e))?;
    let shown = crate::escape::escaped_path(fifo);
    let mut f = open(fifo).map_err(|e| stop(0, e))?;
    for (sent, line) in lines.iter().enumerate() {
        let text = format!("{line}\n");
        let mut since = Instant::now();
        let mut told = false;
        loop {
            match f.write(text.as_bytes()) {
                Ok(n) if n == text.len() => break,
                // cannot happen for a write of at most PIPE_BUF bytes
                Ok(n) => {
                    return Err(stop(
                        sent,
                        format!("{shown} took {n} of the {} bytes of a line", text.len()),
                    ));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !told {
                        waiting(sent);
                        told = true;
                        since = Instant::now();
                    }
                    if since.elapsed() >= WRITE_TIMEOUT {
                        return Err(stop(
                            sent,
                            format!(
                                "isakmpd read nothing from {shown} for {} seconds",
                                WRITE_TIMEOUT.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(stop(
                        sent,
                        format!("cannot write to {shown}: {}", io_reason(&e)),
                    ));
                }
            }
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

    #[test]
    fn lines_that_cannot_go_whole_are_refused_before_any_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&p)
            .unwrap();
        let long = "x".repeat(PIPE_BUF);
        let e = send_lines(&p, &["t a".into(), long], &mut |_| {}).unwrap_err();
        assert_eq!(e.sent, 0);
        assert!(e.why.contains("longer than"), "{}", e.why);
        let e = send(&p, &["t a\nR".into()]).unwrap_err();
        assert!(e.contains("newline"), "{e}");
        let mut buf = [0u8; 16];
        assert!(reader.read(&mut buf).is_err(), "nothing was written");
        let fits = "y".repeat(PIPE_BUF - 1);
        assert!(check_lines(&[fits]).is_ok());
    }
}
