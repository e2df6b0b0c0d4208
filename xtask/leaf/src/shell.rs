//! Quoting for the shells a user pastes printed commands into: a POSIX shell, or
//! PowerShell on Windows. A `Cmd` prints itself with the host's.

use std::borrow::Cow;

/// The shell a printed command is meant to be pasted into: plans (`--dry-run`), fix hints
/// and failures print commands for the user to run, so they must read back unchanged in
/// the shell that user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// sh, bash, zsh: macOS, Linux, WSL, Git Bash.
    Posix,
    /// Windows' own terminal shell (Windows PowerShell 5.1 and PowerShell 7).
    PowerShell,
}

impl Shell {
    /// This host's: PowerShell on Windows, a POSIX shell elsewhere.
    pub const HOST: Shell = if cfg!(windows) {
        Shell::PowerShell
    } else {
        Shell::Posix
    };

    /// `s` as one word this shell reads back unchanged.
    pub fn word(self, s: &str) -> Cow<'_, str> {
        match self {
            Shell::Posix => posix_word(s),
            Shell::PowerShell => powershell_word(s),
        }
    }

    /// `s` quoted even where it need not be: in PowerShell the value of an assignment is
    /// an expression, where a bare word would be run as a command.
    pub fn quoted(self, s: &str) -> String {
        match self {
            Shell::Posix => format!("'{}'", s.replace('\'', r"'\''")),
            Shell::PowerShell => powershell_quoted(s),
        }
    }
}

fn posix_word(s: &str) -> Cow<'_, str> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        s.into()
    } else {
        Shell::Posix.quoted(s).into()
    }
}

/// Single quotes: PowerShell expands nothing inside them, and a quote is written twice.
/// It takes the typographic single quotes for quotes too, so those are doubled as well.
/// Unquoted, `,` makes an array, a leading `@` splats, `$` expands, and `\` is only a path
/// separator (not an escape) so it stays plain. (Windows PowerShell 5.1 drops `"` inside
/// an argument to a native program; PowerShell 7.3 and later pass it on. Nothing this
/// tool prints has one.)
fn powershell_word(s: &str) -> Cow<'_, str> {
    let plain = !s.is_empty()
        && !s.starts_with('@')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+@\\".contains(&b));
    if plain {
        return s.into();
    }
    powershell_quoted(s).into()
}

fn powershell_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain_and_the_rest_reads_back() {
        assert_eq!(
            Shell::Posix.word("linux/amd64,linux/arm64"),
            "linux/amd64,linux/arm64"
        );
        assert_eq!(
            Shell::PowerShell.word("linux/amd64,linux/arm64"),
            "'linux/amd64,linux/arm64'"
        );
        assert_eq!(Shell::Posix.word(r"C:\x"), r"'C:\x'");
        assert_eq!(Shell::PowerShell.word(r"C:\x"), r"C:\x");
        assert_eq!(Shell::Posix.quoted("v"), "'v'");
        assert_eq!(Shell::PowerShell.quoted("it's"), "'it''s'");
    }
}
