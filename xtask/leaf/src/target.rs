//! The target matrix: every per-triple fact lives in one `Target`, built from one table.
//! Nothing else in the xtask switches on triple strings.

use std::fmt;

use anyhow::{bail, Result};

// The OS, its executable format and the CPU are what the headers say: one type each,
// defined beside the reader and named here for the target table.
pub use crate::binfmt::{Cpu, Format, Os};

/// A CPU architecture; an image platform is `linux/<arch>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Docker's name (`TARGETARCH`).
    pub fn docker(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn from_docker(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.docker() == s)
    }

    pub fn cpu(self) -> Cpu {
        match self {
            Arch::Amd64 => Cpu::X86_64,
            Arch::Arm64 => Cpu::Aarch64,
        }
    }

    /// The architecture of the machine running the xtask, if it is one we ship.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

/// The OS and CPU of the machine running the xtask, if host binaries are built for it.
/// What depends on the host (toolchain choice, smoke runs) takes it as a parameter, so
/// tests on Linux cover Mac and Windows hosts too.
pub fn host() -> Option<(Os, Cpu)> {
    let os = match std::env::consts::OS {
        "macos" => Os::Darwin,
        "windows" => Os::Windows,
        "linux" => Os::Linux,
        _ => return None,
    };
    Some((os, Arch::host()?.cpu()))
}

/// An image platform: the extension image has one variant per platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePlatform(pub Arch);

impl ImagePlatform {
    pub const ALL: [ImagePlatform; 2] = [ImagePlatform(Arch::Amd64), ImagePlatform(Arch::Arm64)];

    pub fn parse(s: &str) -> Result<ImagePlatform> {
        let found = ImagePlatform::ALL.into_iter().find(|p| p.to_string() == s);
        match found {
            Some(p) => Ok(p),
            None => bail!(
                "unknown platform `{s}`: expected one of {}",
                ImagePlatform::ALL.map(|p| p.to_string()).join(", ")
            ),
        }
    }

    /// The name of this platform's staging directory (`linux-amd64`).
    pub fn stage_name(self) -> String {
        format!("linux-{}", self.0.docker())
    }

    /// The targets whose binaries go into this platform's image variant.
    pub fn targets(self) -> impl Iterator<Item = &'static Target> {
        TARGETS.iter().filter(move |t| t.arch == self.0)
    }
}

impl fmt::Display for ImagePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux/{}", self.0.docker())
    }
}

/// One Rust target triple and what it means for the image.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub triple: &'static str,
    pub os: Os,
    pub arch: Arch,
    /// cross publishes an image for this triple (it has none for darwin: no macOS SDK).
    pub cross: bool,
    /// The linker the plain-cargo toolchain needs, as named in `.cargo/config.toml`;
    /// `None` where no Debian-packaged linker reaches the triple.
    pub cargo_linker: Option<&'static str>,
}

/// Image platform x host OS -> triple (README.md, "Target matrix"). Linux binaries are
/// static musl so they run on any distribution; Windows on ARM uses the gnullvm ABI,
/// which needs no MSVC SDK.
#[rustfmt::skip]
pub const TARGETS: [Target; 6] = [
    Target { triple: "x86_64-apple-darwin",        os: Os::Darwin,  arch: Arch::Amd64, cross: false, cargo_linker: None },
    Target { triple: "x86_64-pc-windows-gnu",      os: Os::Windows, arch: Arch::Amd64, cross: true,  cargo_linker: Some("x86_64-w64-mingw32-gcc") },
    Target { triple: "x86_64-unknown-linux-musl",  os: Os::Linux,   arch: Arch::Amd64, cross: true,  cargo_linker: Some("x86_64-linux-gnu-gcc") },
    Target { triple: "aarch64-apple-darwin",       os: Os::Darwin,  arch: Arch::Arm64, cross: false, cargo_linker: None },
    Target { triple: "aarch64-pc-windows-gnullvm", os: Os::Windows, arch: Arch::Arm64, cross: false, cargo_linker: None },
    Target { triple: "aarch64-unknown-linux-musl", os: Os::Linux,   arch: Arch::Arm64, cross: true,  cargo_linker: Some("aarch64-linux-gnu-gcc") },
];

impl Target {
    pub fn find(triple: &str) -> Result<&'static Target> {
        match TARGETS.iter().find(|t| t.triple == triple) {
            Some(t) => Ok(t),
            None => bail!(
                "unknown target `{triple}`: expected one of {}",
                TARGETS.map(|t| t.triple).join(", ")
            ),
        }
    }

    pub fn platform(&self) -> ImagePlatform {
        ImagePlatform(self.arch)
    }

    /// File name cargo gives binary `bin` for this target.
    pub fn exe_name(&self, bin: &str) -> String {
        format!("{bin}{}", self.os.exe_suffix())
    }

    /// The format and CPU a binary built for this target must have.
    pub fn expected(&self) -> (Format, Cpu) {
        (self.os.format(), self.arch.cpu())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_has_one_target_per_os() {
        for p in ImagePlatform::ALL {
            let mut oses: Vec<Os> = p.targets().map(|t| t.os).collect();
            oses.sort();
            assert_eq!(oses, Os::ALL, "{p}");
        }
    }

    #[test]
    fn matrix_matches_design() {
        let row = |triple: &str| {
            let t = Target::find(triple).unwrap();
            (t.platform().to_string(), t.os.dir(), t.exe_name("x"))
        };
        assert_eq!(
            row("aarch64-apple-darwin"),
            ("linux/arm64".into(), "darwin", "x".into())
        );
        assert_eq!(
            row("aarch64-pc-windows-gnullvm"),
            ("linux/arm64".into(), "windows", "x.exe".into())
        );
        assert_eq!(
            row("x86_64-unknown-linux-musl"),
            ("linux/amd64".into(), "linux", "x".into())
        );
        assert_eq!(
            Target::find("x86_64-pc-windows-gnu").unwrap().expected(),
            (Format::Pe, Cpu::X86_64)
        );
        assert_eq!(
            Target::find("aarch64-apple-darwin").unwrap().expected(),
            (Format::MachO, Cpu::Aarch64)
        );
    }

    /// `.cargo/config.toml` serves plain `cargo build --target T` too; it must name the
    /// same linkers the table does.
    #[test]
    fn cargo_config_names_the_table_linkers() {
        let config =
            std::fs::read_to_string(crate::paths::root().join(".cargo/config.toml")).unwrap();
        for t in &TARGETS {
            if let Some(linker) = t.cargo_linker {
                let section = format!("[target.{}]\nlinker = \"{linker}\"", t.triple);
                assert!(
                    config.contains(&section),
                    ".cargo/config.toml lacks:\n{section}"
                );
            }
        }
    }

    #[test]
    fn platform_parse() {
        assert_eq!(
            ImagePlatform::parse("linux/arm64").unwrap(),
            ImagePlatform(Arch::Arm64)
        );
        assert_eq!(
            ImagePlatform::parse("linux/amd64").unwrap().stage_name(),
            "linux-amd64"
        );
        let err = ImagePlatform::parse("linux/riscv64")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`linux/riscv64`") && err.contains("linux/amd64, linux/arm64"),
            "{err}"
        );
        assert!(Target::find("mips-unknown-linux-gnu").is_err());
    }
}
