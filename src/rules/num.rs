//! Numbers in text as strtol(3) and strtoul(3) read them with base 0:
//! leading blanks, a sign, then `0x` for hex, a leading `0` for octal, or
//! decimal; nothing may follow.

fn parse(s: &str) -> Option<(bool, u64)> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None if rest.len() > 1 && rest.starts_with('0') => (8, &rest[1..]),
        None => (10, rest),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(|v| (neg, v))
}

/// strtol(3): `None` for no number, trailing text, or overflow.
pub fn strtol(s: &str) -> Option<i64> {
    let (neg, v) = parse(s)?;
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// strtoul(3): a minus sign negates modulo 2^64, as in C.
pub fn strtoul(s: &str) -> Option<u64> {
    let (neg, v) = parse(s)?;
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_signs() {
        assert_eq!(strtoul("0x1000"), Some(4096));
        assert_eq!(strtoul("010"), Some(8));
        assert_eq!(strtoul(" 42"), Some(42));
        assert_eq!(strtoul("-1"), Some(u64::MAX));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul("12x"), None);
        assert_eq!(strtoul(""), None);
        assert_eq!(strtoul("0x"), None);
        assert_eq!(strtol("-24"), Some(-24));
        assert_eq!(strtoul("99999999999999999999"), None);
    }
}
