//! The rule for fragment names: a NAME is a plain file name from a safe
//! set, and a fragment in a subdirectory of fragment_dir is named by its
//! path below it (`sub/acme`).  Names typed by the user and names read back
//! from the state directory are checked by the same rule.

use crate::escape::escaped;

/// The longest fragment name: the file name it makes (`NAME.conf`), its
/// temporary twin (`.NAME.conf.ipsecmgr-PID-RANDOM`) and its copy in
/// `removed/` (`NAME.applied.SECONDS.N`) all stay well under the 255 bytes
/// a file name may have.
pub const MAX_NAME_BYTES: usize = 128;

/// Checks a fragment name (one path component, without `.conf`): letters,
/// digits, `.`, `_` and `-`, not starting with `-` or `.`, at most
/// [`MAX_NAME_BYTES`] long, and not ending in `.conf` in another case
/// (`Customer6.CONF` would become `Customer6.CONF.conf`).  Anything else
/// could change what an include line says, or what a terminal shows.
pub fn check_name(name: &str) -> Result<(), String> {
    let shown = escaped(name);
    if name.is_empty() {
        return Err("empty fragment name".into());
    }
    if name.starts_with('-') {
        return Err(format!("{shown}: a fragment name may not start with '-'"));
    }
    if name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(format!(
            "{shown}: not a file name in the fragment directory"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("{shown}: a fragment name may not start with '.'"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{shown}: a fragment name holds only letters, digits, '.', '_' and '-' (not {})",
            escaped(&format!("{bad:?}"))
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{shown}: a fragment name is at most {MAX_NAME_BYTES} bytes long"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".conf") {
        let stem = &name[..name.len() - 5];
        return Err(format!(
            "{shown}: fragment files end in '.conf', in lower case: name the file {stem}.conf"
        ));
    }
    Ok(())
}

/// Checks a qualified name (`sub/acme`): each part a fragment name.
pub fn check_qualified(name: &str) -> Result<(), String> {
    name.split('/').try_for_each(check_name)
}
