//! Cross-compilation toolchains and the per-triple choice between them.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::cmd::Cmd;
use crate::target::{Cpu, Os, Target, TARGETS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toolchain {
    /// `cargo zigbuild`: zig as the linker; reaches every triple, darwin included.
    Zigbuild,
    /// `cross build`: a container image per triple.
    Cross,
    /// Plain `cargo build` with linkers from `.cargo/config.toml`.
    Cargo,
}

impl Toolchain {
    pub const ALL: [Toolchain; 3] = [Toolchain::Zigbuild, Toolchain::Cross, Toolchain::Cargo];

    fn name(self) -> &'static str {
        match self {
            Toolchain::Zigbuild => "zigbuild",
            Toolchain::Cross => "cross",
            Toolchain::Cargo => "cargo",
        }
    }
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--toolchain` values: a default (`auto` or a toolchain) and per-triple overrides
/// (`TRIPLE=TOOLCHAIN`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchains {
    /// `None` is `auto`.
    pub default: Option<Toolchain>,
    pub per_triple: BTreeMap<&'static str, Toolchain>,
}

impl Toolchains {
    pub fn parse(values: &[String]) -> Result<Toolchains> {
        let mut out = Toolchains::default();
        for v in values {
            match v.split_once('=') {
                Some((triple, toolchain)) => {
                    let t = Target::find(triple)?;
                    match parse_choice(toolchain)? {
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

fn parse_choice(s: &str) -> Result<Option<Toolchain>> {
    if s == "auto" {
        return Ok(None);
    }
    match Toolchain::ALL.into_iter().find(|b| b.name() == s) {
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
    /// The zig executable itself, where known (on PATH, or inside python's ziglang).
    pub zig_binary: Option<Utf8PathBuf>,
    pub cross: bool,
    /// docker or podman, which cross drives.
    pub container_engine: Option<String>,
    /// Linkers found on PATH, by name.
    pub linkers: Vec<String>,
    /// Where the user's own rustflags are set, if anywhere (see [`user_rustflags`]).
    pub user_rustflags: Option<String>,
    /// The toolchain ships `rust-lld` (rustup's do; some distributions' do not).
    pub rust_lld: bool,
    /// This machine's OS and CPU (`target::host`), a field so tests fake a Mac or Windows.
    pub host: Option<(Os, Cpu)>,
    /// A Mac with Apple's command line tools (`xcrun` finds the macOS SDK): its own `cc`
    /// links both darwin CPUs.
    pub apple_sdk: bool,
    /// Linkers the user set through `CARGO_TARGET_<TRIPLE>_LINKER`, by triple: they win
    /// over anything the xtask would choose (cargo-zigbuild keeps them too).
    pub user_linkers: BTreeMap<&'static str, String>,
}

impl Tools {
    pub fn detect() -> Tools {
        let rust_lld = std::thread::spawn(has_rust_lld);
        let found = |name: &str| which::which(name).is_ok();
        let (zig, zig_binary) = match which::which("zig") {
            Ok(path) => (
                Some("zig on PATH".to_owned()),
                Utf8PathBuf::from_path_buf(path).ok(),
            ),
            Err(_) => match python_ziglang() {
                Some(binary) => (Some("python3 -m ziglang".to_owned()), binary),
                None => (None, None),
            },
        };
        let linkers = TARGETS
            .iter()
            .filter_map(|t| t.cargo_linker)
            .filter(|l| found(l))
            .map(str::to_owned)
            .collect();
        let host = crate::target::host();
        let apple_sdk = matches!(host, Some((Os::Darwin, _)))
            && Cmd::new("xcrun", ["--sdk", "macosx", "--show-sdk-path"]).succeeds();
        let user_linkers = TARGETS
            .iter()
            .filter_map(|t| {
                let v = std::env::var(cargo_target_var(t, "LINKER")).ok()?;
                (!v.is_empty()).then_some((t.triple, v))
            })
            .collect();
        Tools {
            cargo_zigbuild: found("cargo-zigbuild"),
            zig,
            zig_binary,
            cross: found("cross"),
            container_engine: ["docker", "podman"]
                .into_iter()
                .find(|e| found(e))
                .map(str::to_owned),
            linkers,
            user_rustflags: user_rustflags(&crate::paths::root(), |k| std::env::var(k).ok()),
            rust_lld: rust_lld.join().unwrap_or(false),
            host,
            apple_sdk,
            user_linkers,
        }
    }

    /// Apple's own toolchain links darwin here: this is a Mac with the command line tools.
    pub fn apple_links(&self, target: &Target) -> bool {
        target.os == Os::Darwin && self.apple_sdk && matches!(self.host, Some((Os::Darwin, _)))
    }

    /// Why `toolchain` cannot build `target` here, with the fix; `None` when it can.
    pub fn missing(&self, toolchain: Toolchain, target: &Target) -> Option<String> {
        match toolchain {
            Toolchain::Zigbuild if !self.cargo_zigbuild => {
                Some("cargo-zigbuild not found: install it with `pip install cargo-zigbuild` or `cargo install cargo-zigbuild --locked`".into())
            }
            Toolchain::Zigbuild if self.zig.is_none() => {
                Some("zig not found (neither `zig` on PATH nor python3's `ziglang` package): install it with `pip install ziglang`".into())
            }
            Toolchain::Cross if !target.cross => Some(format!(
                "cross has no image for {target} (it cannot build for macOS, which needs the SDK, nor for Windows on ARM): use --toolchain {target}=zigbuild"
            )),
            Toolchain::Cross if !self.cross => Some("cross not found: install it with `cargo install cross --locked`".into()),
            Toolchain::Cross if self.container_engine.is_none() => {
                Some("cross needs a container engine and neither docker nor podman is on PATH".into())
            }
            Toolchain::Cargo if self.apple_links(target) => None,
            Toolchain::Cargo => match target.cargo_linker {
                None if target.os == Os::Darwin => Some(format!(
                    "plain cargo links {target} only on a Mac with Apple's command line tools (`xcode-select --install`): use --toolchain {target}=zigbuild"
                )),
                None => Some(format!("plain cargo has no linker for {target}: use --toolchain {target}=zigbuild")),
                Some(l) if !self.linkers.iter().any(|f| f == l) => Some(format!(
                    "linker `{l}` (from .cargo/config.toml) not found: {}",
                    linker_fix(l, self.host)
                )),
                Some(_) => None,
            },
            _ => None,
        }
    }

    /// The toolchain for `target` and why it was chosen, or what is missing and how to fix it.
    pub fn choose(
        &self,
        target: &'static Target,
        toolchains: &Toolchains,
    ) -> Result<(Toolchain, String)> {
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
        for b in Toolchain::ALL {
            match self.missing(b, target) {
                None => {
                    let why = match b {
                        Toolchain::Zigbuild => format!(
                            "cargo-zigbuild and zig ({}) found",
                            self.zig.as_deref().unwrap_or("?")
                        ),
                        Toolchain::Cross => {
                            "zigbuild unavailable; cross and a container engine found".to_owned()
                        }
                        Toolchain::Cargo => match target.cargo_linker {
                            _ if self.apple_links(target) => {
                                "zigbuild unavailable; this Mac's own toolchain found".to_owned()
                            }
                            linker => format!(
                                "zigbuild and cross unavailable; linker {} found",
                                linker.unwrap_or("?")
                            ),
                        },
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

/// Cargo's environment name for `target.<triple>.<what>`: `CARGO_TARGET_<TRIPLE>_<WHAT>`.
pub fn cargo_target_var(target: &Target, what: &str) -> String {
    let triple = target.triple.to_ascii_uppercase().replace('-', "_");
    format!("CARGO_TARGET_{triple}_{what}")
}

/// Where rustflags of the user's are set: the environment (`RUSTFLAGS`,
/// `CARGO_ENCODED_RUSTFLAGS`, `CARGO_BUILD_RUSTFLAGS`, `CARGO_TARGET_*_RUSTFLAGS`) or any
/// cargo config file cargo reads from the workspace (`.cargo/config.toml` in it and its
/// ancestors, and `$CARGO_HOME`'s). A config file counts if any line outside a comment
/// mentions `rustflags`: a false alarm only costs zig's first-run libraries.
pub fn user_rustflags(root: &Utf8Path, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut vars: Vec<String> = [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ]
    .map(String::from)
    .into();
    vars.extend(TARGETS.iter().map(|t| cargo_target_var(t, "RUSTFLAGS")));
    if let Some(v) = vars.iter().find(|v| env(v).is_some_and(|s| !s.is_empty())) {
        return Some(format!("${v}"));
    }
    let cargo_home = env("CARGO_HOME")
        .map(camino::Utf8PathBuf::from)
        .or_else(|| env("HOME").map(|h| Utf8Path::new(&h).join(".cargo")));
    let dirs = root.ancestors().map(|d| d.join(".cargo")).chain(cargo_home);
    for dir in dirs {
        for name in ["config.toml", "config"] {
            let file = dir.join(name);
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let mentions = text
                .lines()
                .any(|l| l.split('#').next().unwrap_or("").contains("rustflags"));
            if mentions {
                return Some(file.to_string());
            }
        }
    }
    None
}

/// `rust-lld` in the active toolchain's sysroot (`lib/rustlib/<host>/bin`), where rustc
/// finds it by name.
pub fn has_rust_lld() -> bool {
    let Ok(sysroot) = Cmd::new("rustc", ["--print", "sysroot"]).read() else {
        return false;
    };
    let rustlib = Utf8Path::new(sysroot.trim()).join("lib/rustlib");
    std::fs::read_dir(rustlib)
        .into_iter()
        .flatten()
        .flatten()
        .any(|host| host.path().join("bin").join("rust-lld").is_file())
}

/// `Some` when python3 has the ziglang package, with the zig executable inside it if
/// that is where it should be.
fn python_ziglang() -> Option<Option<Utf8PathBuf>> {
    let dir = Cmd::new(
        "python3",
        [
            "-c",
            "import os, ziglang; print(os.path.dirname(ziglang.__file__))",
        ],
    )
    .read()
    .ok()?;
    let exe = Utf8Path::new(dir.trim()).join(if cfg!(windows) { "zig.exe" } else { "zig" });
    Some(exe.is_file().then_some(exe))
}

/// How the zigbuild job makes cargo-zigbuild run zig itself. cargo-zigbuild (0.24) runs
/// `python3 -m ziglang` whenever python has ziglang, even with zig on PATH: a python
/// start before each of its two probes per target and each link, about 0.45 s of every
/// invocation (a no-op build: 1.27 s against 0.82 s). With the executable known, its
/// python lookup is pointed at nothing (`CARGO_ZIGBUILD_PYTHON_PATH`) and its zig lookup at
/// the executable (`CARGO_ZIGBUILD_ZIG_PATH`). Nothing is set when the user set either.
pub fn zig_command_env(
    tools: &Tools,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let theirs = ["CARGO_ZIGBUILD_ZIG_PATH", "CARGO_ZIGBUILD_PYTHON_PATH"]
        .iter()
        .any(|k| env(k).is_some());
    match &tools.zig_binary {
        Some(zig) if !theirs => vec![
            ("CARGO_ZIGBUILD_ZIG_PATH".to_owned(), zig.to_string()),
            // A path that cannot exist (`/dev/null` is no directory): no python to ask.
            (
                "CARGO_ZIGBUILD_PYTHON_PATH".to_owned(),
                "/dev/null/python3".to_owned(),
            ),
        ],
        _ => Vec::new(),
    }
}

/// How to install `linker` on `host`.
pub fn linker_fix(linker: &str, host: Option<(Os, Cpu)>) -> &'static str {
    match (linker, host.map(|h| h.0)) {
        ("x86_64-w64-mingw32-gcc", Some(Os::Darwin)) => "install it with `brew install mingw-w64`",
        ("x86_64-w64-mingw32-gcc", Some(Os::Windows)) => {
            "install MinGW-w64 (`choco install mingw`, or MSYS2's mingw-w64-x86_64-gcc) and put its bin directory on PATH"
        }
        ("x86_64-w64-mingw32-gcc", _) => "install it with `apt-get install gcc-mingw-w64-x86-64`",
        ("aarch64-linux-gnu-gcc", _) => "install it with `apt-get install gcc-aarch64-linux-gnu`",
        ("x86_64-linux-gnu-gcc", _) => {
            "install it with `apt-get install gcc-x86-64-linux-gnu` (or `gcc` on an x86_64 host)"
        }
        _ => "install a cross linker for it",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn t(triple: &str) -> &'static Target {
        Target::find(triple).unwrap()
    }

    pub fn all_tools() -> Tools {
        Tools {
            cargo_zigbuild: true,
            zig: Some("zig on PATH".into()),
            zig_binary: Some("/opt/zig/zig".into()),
            cross: true,
            container_engine: Some("docker".into()),
            linkers: TARGETS
                .iter()
                .filter_map(|t| t.cargo_linker)
                .map(str::to_owned)
                .collect(),
            user_rustflags: None,
            rust_lld: true,
            host: Some((Os::Linux, Cpu::X86_64)),
            apple_sdk: false,
            user_linkers: BTreeMap::new(),
        }
    }

    #[test]
    fn cargo_zigbuild_runs_zig_itself_unless_told_otherwise() {
        let tools = all_tools();
        assert_eq!(
            zig_command_env(&tools, |_| None),
            [
                (
                    "CARGO_ZIGBUILD_ZIG_PATH".to_owned(),
                    "/opt/zig/zig".to_owned()
                ),
                (
                    "CARGO_ZIGBUILD_PYTHON_PATH".to_owned(),
                    "/dev/null/python3".to_owned()
                ),
            ]
        );
        let theirs =
            |k: &str| (k == "CARGO_ZIGBUILD_PYTHON_PATH").then(|| "/usr/bin/python3".to_owned());
        assert!(zig_command_env(&tools, theirs).is_empty());
        let unknown = Tools {
            zig_binary: None,
            ..all_tools()
        };
        assert!(zig_command_env(&unknown, |_| None).is_empty());
    }

    #[test]
    fn user_rustflags_are_found_in_the_environment_and_cargo_config() {
        let dir = std::env::temp_dir().join(format!("xtask-rustflags-{}", std::process::id()));
        let root = camino::Utf8PathBuf::try_from(dir.join("ws")).unwrap();
        let home = camino::Utf8PathBuf::try_from(dir.join("home")).unwrap();
        std::fs::create_dir_all(root.join(".cargo")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let no_env = |k: &str| (k == "CARGO_HOME").then(|| home.to_string());
        std::fs::write(
            root.join(".cargo/config.toml"),
            "# rustflags in a comment do not count\n[alias]\nx = \"run\"\n",
        )
        .unwrap();
        assert_eq!(user_rustflags(&root, no_env), None);

        let env = |k: &str| match k {
            "CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS" => Some("-C x".to_owned()),
            _ => no_env(k),
        };
        assert_eq!(
            user_rustflags(&root, env).as_deref(),
            Some("$CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS")
        );

        std::fs::write(
            home.join("config.toml"),
            "[build]\nrustflags = [\"-Dwarnings\"]\n",
        )
        .unwrap();
        assert_eq!(
            user_rustflags(&root, no_env),
            Some(home.join("config.toml").to_string())
        );
        std::fs::write(root.join(".cargo/config"), "target.x.rustflags = []\n").unwrap();
        assert_eq!(
            user_rustflags(&root, no_env),
            Some(root.join(".cargo").join("config").to_string())
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn parse_toolchains() {
        let tc =
            Toolchains::parse(&["zigbuild".into(), "x86_64-pc-windows-gnu=cross".into()]).unwrap();
        assert_eq!(tc.default, Some(Toolchain::Zigbuild));
        assert_eq!(
            tc.per_triple.get("x86_64-pc-windows-gnu"),
            Some(&Toolchain::Cross)
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
            Toolchain::Zigbuild
        );
        tools.cargo_zigbuild = false;
        assert_eq!(
            tools.choose(t("x86_64-pc-windows-gnu"), &auto).unwrap().0,
            Toolchain::Cross
        );
        tools.cross = false;
        let (b, why) = tools.choose(t("x86_64-pc-windows-gnu"), &auto).unwrap();
        assert_eq!(
            (b, why.contains("x86_64-w64-mingw32-gcc")),
            (Toolchain::Cargo, true),
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
