//! The names `vendor.toml` speaks: OS and CPU as in `metadata.json` and Docker
//! (`darwin`, `amd64`), OS-ARCH pairs as pin keys (`darwin-arm64`), and the URL template
//! placeholders that expand to them. Over the leaf layer: the OS and CPU are `target`'s.

use std::collections::BTreeMap;
use std::fmt;

/// The crate's own OS and CPU: one table of names for the target matrix and pin keys.
pub use crate::target::{Arch, Os};

/// An OS-ARCH pair, written `darwin-arm64` as in `[NAME.sha256]`; ordered by that
/// name, so sorted platforms read as pin keys do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPlatform {
    pub os: Os,
    pub arch: Arch,
}

impl HostPlatform {
    pub const ALL: [HostPlatform; 6] = [
        HostPlatform::new(Os::Darwin, Arch::Amd64),
        HostPlatform::new(Os::Darwin, Arch::Arm64),
        HostPlatform::new(Os::Linux, Arch::Amd64),
        HostPlatform::new(Os::Linux, Arch::Arm64),
        HostPlatform::new(Os::Windows, Arch::Amd64),
        HostPlatform::new(Os::Windows, Arch::Arm64),
    ];

    pub const fn new(os: Os, arch: Arch) -> HostPlatform {
        HostPlatform { os, arch }
    }

    pub fn parse(s: &str) -> Option<HostPlatform> {
        let (os, arch) = s.split_once('-')?;
        Some(HostPlatform::new(
            Os::from_dir(os)?,
            Arch::from_docker(arch)?,
        ))
    }
}

impl Ord for HostPlatform {
    fn cmp(&self, other: &HostPlatform) -> std::cmp::Ordering {
        (self.os.dir(), self.arch.docker()).cmp(&(other.os.dir(), other.arch.docker()))
    }
}

impl PartialOrd for HostPlatform {
    fn partial_cmp(&self, other: &HostPlatform) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for HostPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os.dir(), self.arch.docker())
    }
}

pub(crate) const PLACEHOLDERS: &[&str] = &["name", "version", "os", "arch", "exe"];

/// The values placeholders expand to, with `replacements` applied to `{os}` and `{arch}`.
pub(crate) struct Vars<'a> {
    name: &'a str,
    version: &'a str,
    os: String,
    arch: String,
    exe: &'static str,
}

impl<'a> Vars<'a> {
    pub(crate) fn new(
        name: &'a str,
        version: &'a str,
        p: HostPlatform,
        repl: &BTreeMap<String, String>,
    ) -> Self {
        let map = |s: &str| repl.get(s).cloned().unwrap_or_else(|| s.to_owned());
        Vars {
            name,
            version,
            os: map(p.os.dir()),
            arch: map(p.arch.docker()),
            exe: p.os.exe_suffix(),
        }
    }

    /// Fills `{placeholders}`; `{url}` only where `url` is given (in `checksum_url`).
    pub(crate) fn render(&self, template: &str, url: Option<&str>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{template}` has a `{{` without `}}`"))?;
            let key = &rest[open + 1..open + close];
            out.push_str(match key {
                "name" => self.name,
                "version" => self.version,
                "os" => &self.os,
                "arch" => &self.arch,
                "exe" => self.exe,
                "url" if url.is_some() => url.unwrap_or_default(),
                _ => {
                    let known = PLACEHOLDERS.join("}, {");
                    let extra = if url.is_some() { ", {url}" } else { "" };
                    return Err(format!(
                        "unknown placeholder `{{{key}}}` in `{template}` (known: {{{known}}}{extra})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
