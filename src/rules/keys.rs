//! Keys for manual SAs: hex strings (`0x...`, `out:in`), or files holding
//! hex text (`file "out:in"`).

use crate::rules::model::Key;
use crate::system::files::{self, Root};

/// ipsecctl refuses key files larger than this.
const KEY_FILE_MAX: u64 = 1024;

/// Reads hex digits in pairs; an odd last digit is ignored, as are pairs
/// that are not hex, which count as 0xff and are reported (`bad_pairs`).
pub fn parse_hex(text: &[u8]) -> (Key, usize) {
    let mut bad_pairs = 0;
    let bytes = text
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => (h * 16 + l) as u8,
                _ => {
                    bad_pairs += 1;
                    0xff
                }
            }
        })
        .collect();
    (Key(bytes), bad_pairs)
}

/// The outbound and inbound halves of `out[:in]`, each without a leading
/// `0x`.
pub fn split_pair(spec: &str) -> (&str, Option<&str>) {
    fn strip(s: &str) -> &str {
        s.strip_prefix("0x").unwrap_or(s)
    }
    match spec.split_once(':') {
        Some((out, inb)) => (strip(out), Some(strip(inb))),
        None => (strip(spec), None),
    }
}

/// Reads a key file: its whole content is the hex text.
pub fn read_file(path: &str, root: &Root) -> Result<Vec<u8>, String> {
    let actual = root
        .resolve(std::path::Path::new(path))
        .map_err(|e| format!("open {}", e.0))?;
    let data = files::read_regular(&actual, KEY_FILE_MAX).map_err(|e| {
        if e.0.starts_with("file too large") {
            format!("{path}: key too large")
        } else {
            format!("open {path}: {}", e.0)
        }
    })?;
    if data.bytes.is_empty() {
        return Err(format!("{path}: key too small"));
    }
    Ok(data.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_pairs() {
        assert_eq!(
            parse_hex(b"deadBEEF"),
            (Key(vec![0xde, 0xad, 0xbe, 0xef]), 0)
        );
        assert_eq!(parse_hex(b"abc"), (Key(vec![0xab]), 0));
        assert_eq!(parse_hex(b"zz00"), (Key(vec![0xff, 0x00]), 1));
        assert_eq!(parse_hex(b"aa\n"), (Key(vec![0xaa]), 0));
    }

    #[test]
    fn pairs() {
        assert_eq!(split_pair("0xaa:0xbb"), ("aa", Some("bb")));
        assert_eq!(split_pair("aa"), ("aa", None));
    }
}
