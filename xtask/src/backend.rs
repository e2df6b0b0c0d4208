//! Cross-compilation backends and the per-triple choice between them.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Result};

use crate::cmd::Cmd;
use crate::target::{Target, TARGETS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// `cargo zigbuild`: zig as the linker; reaches every triple, darwin included.
    Zigbuild,
    /// `cross build`: a container image per triple.
    Cross,
    /// Plain `cargo build` with linkers from `.cargo/config.toml`.
    Cargo,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Zigbuild, Backend::Cross, Backend::Cargo];

    fn name(self) -> &'static str {
        match self {
            Backend::Zigbuild => "zigbuild",
            Backend::Cross => "cross",
            Backend::Cargo => "cargo",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--toolchain` values: a default (`auto` or a backend) and per-triple overrides
/// (`TRIPLE=BACKEND`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchains {
    /// `None` is `auto`.
    pub default: Option<Backend>,
    pub per_triple: BTreeMap<&'static str, Backend>,
}

impl Toolchains {
    pub fn parse(values: &[String]) -> Result<Toolchains> {
        let mut out = Toolchains::default();
        for v in values {
            match v.split_once('=') {
                Some((triple, backend)) => {
                    let t = Target::find(triple)?;
                    match parse_choice(backend)? {
                        Some(b) => out.per_triple.insert(t.triple, b),
                        None => out.per_triple.remove(t.triple),
                    };
                }
                None => out.default = parse_choice(v)?,
            }
        }
        Ok(out)
    }
}

fn parse_choice(s: &str) -> Result<Option<Backend>> {
    if s == "auto" {
        return Ok(None);
    }
    match Backend::ALL.into_iter().find(|b| b.name() == s) {
        Some(b) => Ok(Some(b)),
        None => bail!("unknown toolchain `{s}`: expected auto, zigbuild, cross or cargo (optionally as TRIPLE=TOOLCHAIN)"),
    }
}

/// What `which` found on this machine: the inputs of the `auto` choice.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub cargo_zigbuild: bool,
    /// How zig is reached, if at all (`zig` on PATH or `python3 -m ziglang`).
    pub zig: Option<String>,
    pub cross: bool,
    /// docker or podman, which cross drives.
    pub container_engine: Option<String>,
    /// Linkers found on PATH, by name.
    pub linkers: Vec<String>,
}

impl Tools {
    pub fn detect() -> Tools {
        let found = |name: &str| which::which(name).is_ok();
        let zig = if found("zig") {
            Some("zig on PATH".to_owned())
        } else if python_has_ziglang() {
            Some("python3 -m ziglang".to_owned())
        } else {
            None
        };
        let linkers = TARGETS
            .iter()
            .filter_map(|t| t.cargo_linker)
            .filter(|l| found(l))
            .map(str::to_owned)
            .collect();
        Tools {
            cargo_zigbuild: found("cargo-zigbuild"),
            zig,
            cross: found("cross"),
            container_engine: ["docker", "podman"]
                .into_iter()
                .find(|e| found(e))
                .map(str::to_owned),
            linkers,
        }
    }

    /// Why `backend` cannot build `target` here, with the fix; `None` when it can.
    pub fn missing(&self, backend: Backend, target: &Target) -> Option<String> {
        match backend {
            Backend::Zigbuild if !self.cargo_zigbuild => {
                Some("cargo-zigbuild not found: install it with `pip install cargo-zigbuild` or `cargo install cargo-zigbuild --locked`".into())
            }
            Backend::Zigbuild if self.zig.is_none() => {
                Some("zig not found (neither `zig` on PATH nor python3's `ziglang` package): install it with `pip install ziglang`".into())
            }
            Backend::Cross if !target.cross => Some(format!(
                "cross has no image for {target} (it cannot build for macOS, which needs the SDK, nor for Windows on ARM): use --toolchain {target}=zigbuild"
            )),
            Backend::Cross if !self.cross => Some("cross not found: install it with `cargo install cross --locked`".into()),
            Backend::Cross if self.container_engine.is_none() => {
                Some("cross needs a container engine and neither docker nor podman is on PATH".into())
            }
            Backend::Cargo => match target.cargo_linker {
                None => Some(format!("plain cargo has no linker for {target}: use --toolchain {target}=zigbuild")),
                Some(l) if !self.linkers.iter().any(|f| f == l) => Some(format!(
                    "linker `{l}` (from .cargo/config.toml) not found: {}",
                    linker_fix(l)
                )),
                Some(_) => None,
            },
            _ => None,
        }
    }

    /// The backend for `target` and why it was chosen, or what is missing and how to fix it.
    pub fn choose(
        &self,
        target: &'static Target,
        toolchains: &Toolchains,
    ) -> Result<(Backend, String)> {
        let requested = toolchains
            .per_triple
            .get(target.triple)
            .copied()
            .or(toolchains.default);
        if let Some(b) = requested {
            return match self.missing(b, target) {
                None => Ok((b, "requested with --toolchain".to_owned())),
                Some(why) => bail!("{target}: --toolchain {b} cannot build it: {why}"),
            };
        }
        // auto: zig reaches every triple in one invocation; cross next (a container per
        // triple); plain cargo only where a native cross linker is installed.
        let mut reasons = Vec::new();
        for b in Backend::ALL {
            match self.missing(b, target) {
                None => {
                    let why = match b {
                        Backend::Zigbuild => format!(
                            "cargo-zigbuild and zig ({}) found",
                            self.zig.as_deref().unwrap_or("?")
                        ),
                        Backend::Cross => {
                            "zigbuild unavailable; cross and a container engine found".to_owned()
                        }
                        Backend::Cargo => format!(
                            "zigbuild and cross unavailable; linker {} found",
                            target.cargo_linker.unwrap_or("?")
                        ),
                    };
                    return Ok((b, why));
                }
                Some(why) => reasons.push(format!("    {b}: {why}")),
            }
        }
        bail!(
            "{target}: no toolchain can build it here:\n{}",
            reasons.join("\n")
        )
    }
}

fn python_has_ziglang() -> bool {
    Cmd::new("python3", ["-c", "import ziglang"]).succeeds()
}

fn linker_fix(linker: &str) -> &'static str {
    match linker {
        "x86_64-w64-mingw32-gcc" => "install it with `apt-get install gcc-mingw-w64-x86-64`",
        "aarch64-linux-gnu-gcc" => "install it with `apt-get install gcc-aarch64-linux-gnu`",
        "x86_64-linux-gnu-gcc" => {
            "install it with `apt-get install gcc-x86-64-linux-gnu` (or `gcc` on an x86_64 host)"
        }
        _ => "install a cross linker for it",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(triple: &str) -> &'static Target {
        Target::find(triple).unwrap()
    }

    fn all_tools() -> Tools {
        Tools {
            cargo_zigbuild: true,
            zig: Some("zig on PATH".into()),
            cross: true,
            container_engine: Some("docker".into()),
            linkers: TARGETS
                .iter()
                .filter_map(|t| t.cargo_linker)
                .map(str::to_owned)
                .collect(),
        }
    }

    #[test]
    fn parse_toolchains() {
        let tc =
            Toolchains::parse(&["zigbuild".into(), "x86_64-pc-windows-gnu=cross".into()]).unwrap();
        assert_eq!(tc.default, Some(Backend::Zigbuild));
        assert_eq!(
            tc.per_triple.get("x86_64-pc-windows-gnu"),
            Some(&Backend::Cross)
        );
        assert_eq!(
            Toolchains::parse(&["auto".into()]).unwrap(),
            Toolchains::default()
        );
        let e = Toolchains::parse(&["gcc".into()]).unwrap_err().to_string();
        assert!(
            e.contains("unknown toolchain `gcc`") && e.contains("auto, zigbuild, cross or cargo"),
            "{e}"
        );
        let e = Toolchains::parse(&["riscv=cross".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown target `riscv`"), "{e}");
    }

    #[test]
    fn auto_prefers_zigbuild_then_cross_then_cargo() {
        let auto = Toolchains::default();
        let mut tools = all_tools();
        assert_eq!(
            tools.choose(t("aarch64-apple-darwin"), &auto).unwrap().0,
            Backend::Zigbuild
        );
        tools.cargo_zigbuild = false;
        assert_eq!(
            tools.choose(t("x86_64-pc-windows-gnu"), &auto).unwrap().0,
            Backend::Cross
        );
        tools.cross = false;
        let (b, why) = tools.choose(t("x86_64-pc-windows-gnu"), &auto).unwrap();
        assert_eq!(
            (b, why.contains("x86_64-w64-mingw32-gcc")),
            (Backend::Cargo, true),
            "{why}"
        );
        let e = tools
            .choose(t("aarch64-apple-darwin"), &auto)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no toolchain can build it") && e.contains("pip install cargo-zigbuild"),
            "{e}"
        );
        assert!(e.contains("cross has no image"), "{e}");
    }

    #[test]
    fn requested_backend_that_cannot_build_is_an_error() {
        let tools = all_tools();
        let tc = Toolchains::parse(&["cross".into()]).unwrap();
        let e = tools
            .choose(t("aarch64-apple-darwin"), &tc)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--toolchain cross cannot build it")
                && e.contains("aarch64-apple-darwin=zigbuild"),
            "{e}"
        );
        let mut tools = all_tools();
        tools.linkers.clear();
        let tc = Toolchains::parse(&["cargo".into()]).unwrap();
        let e = tools
            .choose(t("x86_64-pc-windows-gnu"), &tc)
            .unwrap_err()
            .to_string();
        assert!(e.contains("apt-get install gcc-mingw-w64-x86-64"), "{e}");
        tools.zig = None;
        let tc = Toolchains::parse(&["zigbuild".into()]).unwrap();
        let e = tools
            .choose(t("x86_64-pc-windows-gnu"), &tc)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pip install ziglang"), "{e}");
    }
}
