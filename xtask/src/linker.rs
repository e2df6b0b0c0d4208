//! What links each triple, once its toolchain is chosen: the zigbuild job links every
//! triple in ONE cargo invocation, but not every triple with zig. cargo-zigbuild sets
//! `CARGO_TARGET_<TRIPLE>_LINKER` to its zig wrapper only where that variable is unset
//! (cargo-zigbuild 0.24 `add_env_if_missing`), so a per-target linker set here keeps the
//! single invocation: a second invocation beside it would wait on cargo's lock of the
//! same target directory.
//!
//! Why not zig everywhere: on an empty zig cache (a fresh machine, a new zig) zig builds,
//! per target, the C runtime it links against before its first link. Measured here
//! (2 cores shared, `cargo zigbuild` of host-bin for one triple, empty zig cache): 179 s
//! for x86_64 Windows and 159 s for arm64 Windows, each 52-54 MB of cache, against 1.6 s
//! for x86_64 Windows linked by MinGW-w64's gcc. Nothing prebuilt reaches Windows on ARM
//! (Debian packages no llvm-mingw), so zig keeps it and its first-run cost.

use std::fmt;

use crate::target::{Os, Target};
use crate::toolchain::{cargo_target_var, Toolchain, Toolchains, Tools};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linker {
    /// `zig cc`, cargo-zigbuild's wrapper.
    Zig,
    /// rust-lld from the Rust toolchain, against the CRT and libc Rust's musl targets carry.
    RustLld,
    /// A GCC cross driver on PATH with its own prebuilt runtime (MinGW-w64's for Windows,
    /// Debian's cross gcc for Linux), as `.cargo/config.toml` names it.
    Gcc(&'static str),
    /// The Mac's own `cc`: Apple's clang and ld with the macOS SDK.
    AppleCc,
    /// Whatever cross's container image for the triple has.
    CrossImage,
    /// The user's `CARGO_TARGET_<TRIPLE>_LINKER`.
    User(String),
}

impl fmt::Display for Linker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Linker::Zig => f.write_str("zig"),
            Linker::RustLld => f.write_str("rust-lld"),
            Linker::Gcc(gcc) => f.write_str(gcc),
            Linker::AppleCc => f.write_str("Apple's cc"),
            Linker::CrossImage => f.write_str("cross's image"),
            Linker::User(l) => f.write_str(l),
        }
    }
}

/// One triple's toolchain and linker, and why: the plan's log line and doctor's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub target: &'static Target,
    pub toolchain: Toolchain,
    pub linker: Linker,
    /// Why this toolchain, then why this linker.
    pub why: String,
    /// This link has zig compile a C runtime on a machine's first run (into zig's global
    /// cache): every zig link but darwin's, which `zig_link_env` trims to nothing unless
    /// the user's own rustflags keep it from adding flags.
    pub zig_builds_runtime: bool,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, linked by {} ({})",
            self.target, self.toolchain, self.linker, self.why
        )
    }
}

/// The toolchain (`Tools::choose`) and then the linker for `target`.
pub fn choose(
    tools: &Tools,
    target: &'static Target,
    toolchains: &Toolchains,
) -> anyhow::Result<Choice> {
    let (toolchain, why_toolchain) = tools.choose(target, toolchains)?;
    let (linker, why_linker) = linker(tools, toolchain, target);
    let zig_builds_runtime =
        linker == Linker::Zig && (target.os != Os::Darwin || tools.user_rustflags.is_some());
    Ok(Choice {
        target,
        toolchain,
        linker,
        why: format!("{why_toolchain}; {why_linker}"),
        zig_builds_runtime,
    })
}

/// What links `target` under `toolchain` on this machine, and why.
pub fn linker(tools: &Tools, toolchain: Toolchain, target: &Target) -> (Linker, String) {
    let var = || cargo_target_var(target, "LINKER");
    if let (Some(l), Toolchain::Zigbuild | Toolchain::Cargo) =
        (tools.user_linkers.get(target.triple), toolchain)
    {
        return (Linker::User(l.clone()), format!("set by ${}", var()));
    }
    let gcc = target
        .cargo_linker
        .filter(|l| tools.linkers.iter().any(|f| f == l));
    match toolchain {
        Toolchain::Cross => (
            Linker::CrossImage,
            "cross's image for the triple links it".into(),
        ),
        Toolchain::Cargo if tools.apple_links(target) => (
            Linker::AppleCc,
            "rustc's default linker for darwin on a Mac".into(),
        ),
        Toolchain::Cargo => (
            Linker::Gcc(target.cargo_linker.unwrap_or("?")),
            "named in .cargo/config.toml".into(),
        ),
        Toolchain::Zigbuild => match target.os {
            Os::Darwin if tools.apple_links(target) => (
                Linker::AppleCc,
                "this Mac's own toolchain: the real SDK, and Apple's ld signs arm64".into(),
            ),
            Os::Darwin => (
                Linker::Zig,
                "zig ships the macOS SDK's library stubs; nothing else links Mach-O off a Mac"
                    .into(),
            ),
            Os::Linux if tools.rust_lld && tools.user_rustflags.is_none() => (
                Linker::RustLld,
                "links musl against Rust's own CRT and libc: zig would build musl's first".into(),
            ),
            Os::Linux if tools.user_rustflags.is_some() => (
                Linker::Zig,
                "your rustflags would be replaced by rust-lld's strip flag: zig builds musl's libc on a first run"
                    .into(),
            ),
            Os::Linux => (
                Linker::Zig,
                "no rust-lld in this toolchain: zig builds musl's libc on a first run".into(),
            ),
            Os::Windows => match (gcc, target.cargo_linker) {
                (Some(gcc), _) => (
                    Linker::Gcc(gcc),
                    "MinGW-w64's prebuilt runtime: zig would compile its own on a first run"
                        .into(),
                ),
                (None, Some(gcc)) => (
                    Linker::Zig,
                    format!(
                        "{gcc} not found, so zig compiles its MinGW runtime on a first run \
                         (about 2 min; {})",
                        crate::toolchain::linker_fix(gcc, tools.host)
                    ),
                ),
                (None, None) => (
                    Linker::Zig,
                    "nothing prebuilt reaches it: zig compiles its MinGW runtime on a first run"
                        .into(),
                ),
            },
        },
    }
}

/// What the zigbuild job sets for `target` so that it links as [`linker`] says. Without
/// these, cargo-zigbuild links with zig, which on a first run (empty zig cache) builds,
/// per target, compiler-rt, a UBSan runtime (its default Debug mode) and the C library.
/// - Linux (musl): rust-lld, which every rustup toolchain ships, links against the CRT
///   objects and `libc.a` that Rust's musl targets carry themselves (`self-contained`),
///   and strips symbols as zig's link did.
/// - x86_64 Windows: MinGW-w64's gcc where it is installed (Debian's
///   `gcc-mingw-w64-x86-64`, Homebrew's `mingw-w64`), stripping symbols as zig's link
///   did. GNU ld stamps SOURCE_DATE_EPOCH (binutils 2.40 here) as the PE link time, so a
///   clean rebuild gives the same bytes; it links msvcrt.dll where zig links the UCRT
///   API sets: both ship with every Windows 10.
/// - macOS: on a Mac, Apple's `cc`. Elsewhere zig links (it has the SDK's library stubs),
///   with `-O2` (no UBSan runtime) and `-rtlib=none` (no compiler-rt: Rust's
///   compiler_builtins has the intrinsics and std the OS-version check). The code is
///   byte-identical to zig's default link; only the ad-hoc signature's identifier,
///   cargo's hash of the flags, differs.
/// - arm64 Windows: nothing. lld-link needs zig's MinGW CRT, and compiler-rt
///   (`___chkstk_ms` and `__udivti3` are not in compiler_builtins there); `-O2` saved
///   nothing measurable.
///
/// Rustflags set here replace `build.rustflags` (cargo reads one source), so none are set
/// when the user has their own (`Tools::user_rustflags`); a linker the user set is theirs.
pub fn zig_link_env(target: &Target, tools: &Tools) -> Vec<(String, String)> {
    let key = |what: &str| cargo_target_var(target, what);
    let rustflags = |flags: &str| match tools.user_rustflags {
        None => vec![(key("RUSTFLAGS"), flags.to_owned())],
        Some(_) => Vec::new(),
    };
    let set_linker = |l: &str| vec![(key("LINKER"), l.to_owned())];
    match linker(tools, Toolchain::Zigbuild, target).0 {
        Linker::RustLld => [set_linker("rust-lld"), rustflags("-C strip=symbols")].concat(),
        Linker::Gcc(gcc) => [set_linker(gcc), rustflags("-C strip=symbols")].concat(),
        Linker::AppleCc => set_linker("cc"),
        Linker::Zig if target.os == Os::Darwin => {
            rustflags("-C link-arg=-O2 -C link-arg=-rtlib=none")
        }
        Linker::Zig | Linker::CrossImage | Linker::User(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Cpu, TARGETS};
    use crate::toolchain::tests::{all_tools, t};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Every triple's (toolchain, linker) under `auto`.
    fn auto(tools: &Tools) -> Vec<(&'static str, Toolchain, Linker)> {
        TARGETS
            .iter()
            .map(|tt| {
                let c = choose(tools, tt, &Toolchains::default()).unwrap();
                (tt.triple, c.toolchain, c.linker)
            })
            .collect()
    }

    fn mac(apple_sdk: bool) -> Tools {
        Tools {
            host: Some((Os::Darwin, Cpu::Aarch64)),
            apple_sdk,
            // Homebrew's mingw-w64; no Linux cross gcc.
            linkers: vec!["x86_64-w64-mingw32-gcc".into()],
            ..all_tools()
        }
    }

    #[test]
    fn linux_links_musl_with_rust_lld_x86_64_windows_with_mingw_and_the_rest_with_zig() {
        use Linker::*;
        use Toolchain::Zigbuild;
        assert_eq!(
            auto(&all_tools()),
            [
                ("x86_64-apple-darwin", Zigbuild, Zig),
                (
                    "x86_64-pc-windows-gnu",
                    Zigbuild,
                    Gcc("x86_64-w64-mingw32-gcc")
                ),
                ("x86_64-unknown-linux-musl", Zigbuild, RustLld),
                ("aarch64-apple-darwin", Zigbuild, Zig),
                ("aarch64-pc-windows-gnullvm", Zigbuild, Zig),
                ("aarch64-unknown-linux-musl", Zigbuild, RustLld),
            ]
        );
        let tools = all_tools();
        assert_eq!(
            zig_link_env(t("x86_64-pc-windows-gnu"), &tools),
            env(&[
                (
                    "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER",
                    "x86_64-w64-mingw32-gcc"
                ),
                (
                    "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS",
                    "-C strip=symbols"
                ),
            ])
        );
        assert_eq!(
            zig_link_env(t("x86_64-unknown-linux-musl"), &tools),
            env(&[
                ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld"),
                (
                    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
                    "-C strip=symbols"
                ),
            ])
        );
        assert_eq!(
            zig_link_env(t("aarch64-apple-darwin"), &tools),
            env(&[(
                "CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS",
                "-C link-arg=-O2 -C link-arg=-rtlib=none"
            )])
        );
        assert!(zig_link_env(t("aarch64-pc-windows-gnullvm"), &tools).is_empty());
        let c = choose(
            &tools,
            t("aarch64-pc-windows-gnullvm"),
            &Toolchains::default(),
        )
        .unwrap();
        assert!(c.why.contains("nothing prebuilt reaches it"), "{c}");
    }

    #[test]
    fn without_mingw_zig_links_windows_and_says_what_to_install_per_host() {
        let bare = |host| Tools {
            linkers: Vec::new(),
            host: Some(host),
            ..all_tools()
        };
        let why = |host| {
            let tools = bare(host);
            let (l, why) = linker(&tools, Toolchain::Zigbuild, t("x86_64-pc-windows-gnu"));
            assert_eq!(l, Linker::Zig);
            assert!(zig_link_env(t("x86_64-pc-windows-gnu"), &tools).is_empty());
            why
        };
        let linux = why((Os::Linux, Cpu::X86_64));
        assert!(
            linux.contains("apt-get install gcc-mingw-w64-x86-64"),
            "{linux}"
        );
        let mac = why((Os::Darwin, Cpu::Aarch64));
        assert!(mac.contains("brew install mingw-w64"), "{mac}");
        let windows = why((Os::Windows, Cpu::X86_64));
        assert!(windows.contains("MinGW-w64"), "{windows}");
    }

    #[test]
    fn a_mac_links_darwin_with_its_own_toolchain() {
        use Linker::*;
        use Toolchain::Zigbuild;
        let tools = mac(true);
        assert_eq!(
            auto(&tools),
            [
                ("x86_64-apple-darwin", Zigbuild, AppleCc),
                (
                    "x86_64-pc-windows-gnu",
                    Zigbuild,
                    Gcc("x86_64-w64-mingw32-gcc")
                ),
                ("x86_64-unknown-linux-musl", Zigbuild, RustLld),
                ("aarch64-apple-darwin", Zigbuild, AppleCc),
                ("aarch64-pc-windows-gnullvm", Zigbuild, Zig),
                ("aarch64-unknown-linux-musl", Zigbuild, RustLld),
            ]
        );
        // In the one zigbuild invocation: cc instead of zig, and none of zig's flags.
        for triple in ["x86_64-apple-darwin", "aarch64-apple-darwin"] {
            let var = cargo_target_var(t(triple), "LINKER");
            assert_eq!(zig_link_env(t(triple), &tools), env(&[(&var, "cc")]));
        }
        // Without the command line tools, zig links darwin as it does on Linux.
        assert_eq!(
            linker(&mac(false), Zigbuild, t("aarch64-apple-darwin")).0,
            Zig
        );
        // Without zigbuild, plain cargo still links darwin there; musl has nothing.
        let plain = Tools {
            cargo_zigbuild: false,
            cross: false,
            ..mac(true)
        };
        let c = choose(&plain, t("x86_64-apple-darwin"), &Toolchains::default()).unwrap();
        assert_eq!(
            (c.toolchain, &c.linker),
            (Toolchain::Cargo, &AppleCc),
            "{c}"
        );
        let e = choose(
            &plain,
            t("x86_64-unknown-linux-musl"),
            &Toolchains::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x86_64-linux-gnu-gcc"), "{e}");
    }

    #[test]
    fn plain_cargo_links_darwin_only_on_a_mac() {
        let cargo = Toolchains::parse(&["cargo".into()]).unwrap();
        let e = choose(&all_tools(), t("aarch64-apple-darwin"), &cargo)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("only on a Mac") && e.contains("=zigbuild"),
            "{e}"
        );
        let c = choose(&mac(true), t("aarch64-apple-darwin"), &cargo).unwrap();
        assert_eq!(c.linker, Linker::AppleCc);
        assert!(choose(&mac(false), t("aarch64-apple-darwin"), &cargo).is_err());
    }

    #[test]
    fn the_users_linker_and_rustflags_are_kept() {
        let mut tools = all_tools();
        tools.user_linkers.insert(
            "x86_64-unknown-linux-musl",
            "/opt/musl/bin/x86_64-linux-musl-gcc".into(),
        );
        let (l, why) = linker(&tools, Toolchain::Zigbuild, t("x86_64-unknown-linux-musl"));
        assert_eq!(
            l,
            Linker::User("/opt/musl/bin/x86_64-linux-musl-gcc".into())
        );
        assert_eq!(why, "set by $CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER");
        assert!(zig_link_env(t("x86_64-unknown-linux-musl"), &tools).is_empty());

        // With rustflags of their own: no flags of ours, so musl links with zig; the
        // MinGW linker needs no flag and stays.
        let theirs = Tools {
            user_rustflags: Some("$RUSTFLAGS".into()),
            ..all_tools()
        };
        assert_eq!(
            zig_link_env(t("x86_64-pc-windows-gnu"), &theirs),
            env(&[(
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER",
                "x86_64-w64-mingw32-gcc"
            )])
        );
        for triple in ["aarch64-unknown-linux-musl", "aarch64-apple-darwin"] {
            assert!(zig_link_env(t(triple), &theirs).is_empty(), "{triple}");
        }
        let no_lld = Tools {
            rust_lld: false,
            ..all_tools()
        };
        assert!(zig_link_env(t("aarch64-unknown-linux-musl"), &no_lld).is_empty());
        // cross links inside its image, whatever is set here.
        assert_eq!(
            linker(&tools, Toolchain::Cross, t("x86_64-unknown-linux-musl")).0,
            Linker::CrossImage
        );
    }
}
