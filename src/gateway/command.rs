//! ipsecmgr commands on this gateway, as hints and as commands left to
//! run: with this run's `-c` and `--root`, every word quoted as a shell
//! needs it, so that one pasted as it is acts on the same gateway (not on
//! the real /etc when the run was under `--root`).

use crate::gateway::Gateway;

impl Gateway {
    /// `ipsecmgr`, this run's `-c` (when it is not the default file under
    /// the root) and `--root`, then `args`: one word each.
    pub fn command_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec!["ipsecmgr".to_string()];
        if let Some(source) = &self.settings.source
            && *source != self.root.map(crate::settings::DEFAULT_PATH)
        {
            argv.extend(["-c".to_string(), source.display().to_string()]);
        }
        if let Some(root) = &self.root.0 {
            argv.extend(["--root".to_string(), root.display().to_string()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// [`Gateway::command_argv`] as one shell line.
    pub fn command(&self, args: &[&str]) -> String {
        let words: Vec<String> = self
            .command_argv(args)
            .iter()
            .map(|w| shell_word(w))
            .collect();
        words.join(" ")
    }
}

/// `word` as a shell reads it back: as it is when it holds only characters
/// no shell treats specially, else in single quotes, so that a path in a
/// plan can be pasted into a command line.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
