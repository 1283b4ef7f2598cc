//! Editing ipsec.conf: one include line in or out, every other byte kept.

/// The statement that includes `path`.
pub fn include_line(path: &str) -> String {
    format!("include \"{path}\"\n")
}

fn is_include_of(line: &str, path: &str) -> bool {
    let line = line.trim();
    let Some(rest) = line.strip_prefix("include") else {
        return false;
    };
    let rest = rest.trim_start();
    let quoted = [format!("\"{path}\""), format!("'{path}'")];
    quoted.iter().any(|q| {
        rest.strip_prefix(q.as_str())
            .is_some_and(|after| after.trim().is_empty() || after.trim_start().starts_with('#'))
    })
}

/// `text` with `include "path"` added after the last include statement (or
/// at the end).
pub fn add_include(text: &[u8], path: &str) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
    let new = include_line(path);
    let at = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("include"))
        .map_or(lines.len(), |i| i + 1);
    // a last line without its newline gets one, or the include would join it
    let mut fixed;
    if at > 0 && !lines[at - 1].ends_with('\n') {
        fixed = lines[at - 1].to_string();
        fixed.push('\n');
        lines[at - 1] = &fixed;
    }
    lines.insert(at, &new);
    lines.concat().into_bytes()
}

/// `text` without the line `line` (1-based), which must be an include of
/// `path` alone.
pub fn remove_include(text: &[u8], line: u32, path: &str) -> Result<Vec<u8>, String> {
    let s = String::from_utf8_lossy(text);
    let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
    let i = line as usize - 1;
    match lines.get(i) {
        Some(l) if is_include_of(l, path) => {
            lines.remove(i);
            Ok(lines.concat().into_bytes())
        }
        _ => Err(format!(
            "line {line} holds more than `include \"{path}\"`; remove it by hand"
        )),
    }
}

/// The line numbers of the statements including `path`.
pub fn include_lines(text: &[u8], path: &str) -> Vec<u32> {
    String::from_utf8_lossy(text)
        .lines()
        .enumerate()
        .filter(|(_, l)| is_include_of(l, path))
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_after_the_last_include_and_keeps_the_rest() {
        let text = b"# head\ninclude \"/etc/a.conf\"\n\nflow esp from 1.1.1.1 to 2.2.2.2\n";
        let out = add_include(text, "/etc/b.conf");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# head\ninclude \"/etc/a.conf\"\ninclude \"/etc/b.conf\"\n\nflow esp from 1.1.1.1 to 2.2.2.2\n"
        );
        let out = add_include(b"flow x", "/etc/b.conf");
        assert_eq!(out, b"flow x\ninclude \"/etc/b.conf\"\n");
    }

    #[test]
    fn removes_exactly_one_line() {
        let text = b"include \"/a.conf\"\ninclude \"/b.conf\"  # the b tunnel\nx\n";
        assert_eq!(include_lines(text, "/b.conf"), vec![2]);
        let out = remove_include(text, 2, "/b.conf").unwrap();
        assert_eq!(out, b"include \"/a.conf\"\nx\n");
        assert!(remove_include(text, 3, "/b.conf").is_err());
        assert!(remove_include(b"include \"/b.conf\" flow\n", 1, "/b.conf").is_err());
    }
}
