//! The names `vendor.toml` speaks: OS and CPU as in `metadata.json` and Docker
//! (`darwin`, `amd64`), OS-ARCH pairs as pin keys (`darwin-arm64`), and the URL template
//! placeholders that expand to them. A leaf: depends on nothing else in the crate.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Os {
    // Alphabetical, so sorted platforms read as pin keys do.
    Darwin,
    Linux,
    Windows,
}

impl Os {
    pub const ALL: [Os; 3] = [Os::Darwin, Os::Linux, Os::Windows];

    /// The name in `metadata.json`, in pin keys and in `{os}`.
    pub fn name(self) -> &'static str {
        match self {
            Os::Darwin => "darwin",
            Os::Windows => "windows",
            Os::Linux => "linux",
        }
    }

    pub fn parse(s: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|os| os.name() == s)
    }

    pub fn exe(self) -> &'static str {
        if self == Os::Windows {
            ".exe"
        } else {
            ""
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Docker's name (`TARGETARCH`), and `{arch}`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// An OS-ARCH pair, written `darwin-arm64` as in `[NAME.sha256]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: Os,
    pub arch: Arch,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::new(Os::Darwin, Arch::Amd64),
        Platform::new(Os::Darwin, Arch::Arm64),
        Platform::new(Os::Linux, Arch::Amd64),
        Platform::new(Os::Linux, Arch::Arm64),
        Platform::new(Os::Windows, Arch::Amd64),
        Platform::new(Os::Windows, Arch::Arm64),
    ];

    pub const fn new(os: Os, arch: Arch) -> Platform {
        Platform { os, arch }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        let (os, arch) = s.split_once('-')?;
        Some(Platform::new(Os::parse(os)?, Arch::parse(arch)?))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os.name(), self.arch.name())
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
        p: Platform,
        repl: &BTreeMap<String, String>,
    ) -> Self {
        let map = |s: &str| repl.get(s).cloned().unwrap_or_else(|| s.to_owned());
        Vars {
            name,
            version,
            os: map(p.os.name()),
            arch: map(p.arch.name()),
            exe: p.os.exe(),
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

/// 64 lowercase hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
