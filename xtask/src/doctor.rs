//! `cargo xtask doctor`: every prerequisite of `dist`, each with a mark, what was found,
//! and the exact command that fixes it. `dist`, `verify` and `merge` run the checks they
//! need through `require`, so they stop within seconds, before compiling anything.

use std::fmt;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::cmd::Cmd;
use crate::docker::{self, Builder, Remote, Strategy};
use crate::flags::DoctorCmd;
use crate::reference::ImageRef;
use crate::target::{Os, TARGETS};
use crate::{paths, pins, smoke, ui, workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Missing but optional: `dist` can run without it.
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub found: String,
    /// The command (or step) that fixes a failure.
    pub fix: Option<String>,
    /// Lines shown under the check (the toolchains check: one per triple).
    pub details: Vec<String>,
}

impl Check {
    /// `--json`'s form: `fix` only when there is one.
    pub fn to_json(&self) -> Value {
        let status = match self.status {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        };
        let mut v = json!({ "name": self.name, "status": status, "found": self.found });
        if let Some(fix) = &self.fix {
            v["fix"] = json!(fix);
        }
        if !self.details.is_empty() {
            v["details"] = json!(self.details);
        }
        v
    }

    fn pass(name: &'static str, found: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            found: found.into(),
            fix: None,
            details: Vec::new(),
        }
    }
    fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            found: found.into(),
            fix: Some(fix.into()),
            details: Vec::new(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Pass => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "[{mark}] {:<16} {}", self.name, self.found)?;
        for d in &self.details {
            write!(f, "\n                          {d}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n                          fix: {fix}")?;
        }
        Ok(())
    }
}

/// One prerequisite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Rust,
    Targets,
    Zig,
    CargoZigbuild,
    Cross,
    Toolchains,
    Docker,
    Buildx,
    Builder,
    Registry,
    Node,
    Disk,
    Emulators,
}

pub const ALL: [Item; 13] = [
    Item::Rust,
    Item::Targets,
    Item::Zig,
    Item::CargoZigbuild,
    Item::Cross,
    Item::Toolchains,
    Item::Docker,
    Item::Buildx,
    Item::Builder,
    Item::Registry,
    Item::Node,
    Item::Disk,
    Item::Emulators,
];

/// What the checks are about: the builder and the image whose registry must answer.
#[derive(Debug, Default)]
pub struct Context {
    pub builder: Option<String>,
    pub image: Option<ImageRef>,
    /// Why there is no image to check (a bad `--image`, Cargo.toml's name or version).
    pub image_error: Option<String>,
    /// Checking for `dist --push`: the registry is then a prerequisite, not an extra.
    pub push: bool,
}

const MIN_FREE_GIB: u64 = 2;

/// The name of [`Item::Node`]'s check.
pub const NODE: &str = "node/npm";

pub fn check(item: Item, ctx: &Context) -> Check {
    match item {
        Item::Rust => rust(),
        Item::Targets => targets(),
        Item::Zig => zig(),
        Item::CargoZigbuild => match Cmd::new("cargo-zigbuild", ["--version"]).read() {
            Ok(v) => Check::pass("cargo-zigbuild", v.trim()),
            Err(_) => Check::fail(
                "cargo-zigbuild",
                "not found",
                format!(
                    "pip install cargo-zigbuild=={} (or `cargo xtask setup`)",
                    pins::cargo_zigbuild()
                ),
            ),
        },
        Item::Cross => cross(),
        Item::Toolchains => toolchains(&crate::toolchain::Tools::detect()),
        Item::Docker => docker_daemon(),
        Item::Buildx => buildx(),
        Item::Builder => match Builder::detect(ctx.builder.as_deref()) {
            Ok(b) => {
                let (strategy, _) = Strategy::choose(&b);
                let how = if b.multi_platform {
                    "multi-platform builds"
                } else {
                    "one platform per build"
                };
                let r = &b.reproducibility;
                let digests = if r.reproducible {
                    format!("reproducible digests ({})", r.found)
                } else {
                    let (major, minor) = crate::reproducible::MIN_REPRODUCIBLE_BUILDKIT;
                    format!(
                        "digests not reproducible ({}; that needs BuildKit {major}.{minor}+)",
                        r.found
                    )
                };
                Check::pass(
                    "buildx builder",
                    format!(
                        "{} (driver {}): {how}, {strategy} strategy, {digests}",
                        b.name, b.driver
                    ),
                )
            }
            Err(e) => Check::fail(
                "buildx builder",
                format!("{e:#}"),
                "docker buildx ls; docker buildx use default",
            ),
        },
        Item::Registry => registry(ctx),
        Item::Node => match ui::check_tools(&ui::npm_program()) {
            Ok(v) => Check::pass(NODE, format!("node {v}")),
            Err(e) => Check::fail(
                NODE,
                format!("{e:#}"),
                "apt-get install nodejs npm (Node.js 20.19+), or https://nodejs.org",
            ),
        },
        Item::Disk => disk(),
        Item::Emulators => emulators(),
    }
}

/// Runs `items` and fails, listing every failed check with its fix, if any failed.
/// Every check of `items`, in their order, run side by side: each asks a different
/// program (docker, buildx, node, df, ...), and one after another they were most of a
/// no-change `dist`.
pub fn check_all(items: &[Item], ctx: &Context) -> Vec<Check> {
    std::thread::scope(|s| {
        let running: Vec<_> = items
            .iter()
            .map(|&i| s.spawn(move || check(i, ctx)))
            .collect();
        running
            .into_iter()
            .map(|h| h.join().expect("a doctor check panicked"))
            .collect()
    })
}

pub fn require(items: &[Item], ctx: &Context) -> Result<()> {
    require_passed(check_all(items, ctx))
}

/// An error listing every failed check of `checks`, each with its fix.
pub fn require_passed(checks: Vec<Check>) -> Result<()> {
    let failed: Vec<String> = checks
        .into_iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| {
            format!(
                "{}: {} (fix: {})",
                c.name,
                c.found,
                c.fix.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "missing prerequisites (`cargo xtask doctor` shows them all):\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

impl DoctorCmd {
    pub fn run(self) -> Result<()> {
        // `--image` here may carry its tag (the reference whose registry must answer).
        let image = match &self.image {
            Some(i) => ImageRef::parse(i).context("--image (or XTASK_IMAGE)"),
            None => workspace::load().and_then(|w| w.release(None, None)),
        };
        let ctx = Context {
            builder: self.builder.clone(),
            image_error: image.as_ref().err().map(|e| format!("{e:#}")),
            image: image.ok(),
            push: self.push,
        };
        let what = if self.push {
            "`cargo xtask dist --push`"
        } else {
            "`cargo xtask dist`"
        };
        let checks = check_all(&ALL, &ctx);
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "ok": ok,
                    "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
                }))?
            );
        } else {
            for c in &checks {
                println!("{c}");
            }
        }
        if !ok {
            bail!("{what} cannot run here: fix the FAIL lines above (`cargo xtask setup` fixes those that need no root)");
        }
        if !self.json {
            println!("everything {what} needs is here");
            if !self.push
                && checks
                    .iter()
                    .any(|c| c.status == Status::Warn && c.name == "registry")
            {
                println!("publishing (`dist --push`) needs the registry: see its warn line; `cargo xtask doctor --push` checks for it");
            }
        }
        Ok(())
    }
}

fn rust() -> Check {
    let Ok(v) = Cmd::new("rustc", ["-V"]).read() else {
        return Check::fail(
            "rust",
            "rustc not found",
            "install Rust with rustup: https://rustup.rs",
        );
    };
    let num = v.split_whitespace().nth(1).unwrap_or_default();
    let mut parts = num.split(['.', '-']).map(|p| p.parse::<u64>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let min = pins::rust_min();
    if have >= min {
        Check::pass("rust", v.trim())
    } else {
        Check::fail(
            "rust",
            format!("{} (need {}.{}+)", v.trim(), min.0, min.1),
            "rustup update stable",
        )
    }
}

fn targets() -> Check {
    let installed = match workspace::installed_targets() {
        Ok(i) => i,
        Err(e) => {
            return Check::fail(
                "rust targets",
                format!("{e:#}"),
                "install Rust with rustup: https://rustup.rs",
            )
        }
    };
    let missing = installed.missing();
    if missing.is_empty() {
        return Check::pass("rust targets", format!("all {} installed", TARGETS.len()));
    }
    let fix = if installed.rustup {
        format!(
            "rustup target add {} (or `cargo xtask setup`)",
            missing.join(" ")
        )
    } else {
        "install rustup (https://rustup.rs); this Rust cannot add targets".to_owned()
    };
    Check::fail(
        "rust targets",
        format!("missing {}", missing.join(", ")),
        fix,
    )
}

fn zig() -> Check {
    let found = Cmd::new("zig", ["version"])
        .read()
        .or_else(|_| Cmd::new("python3", ["-m", "ziglang", "version"]).read());
    match found {
        Ok(v) => Check::pass("zig", v.trim()),
        Err(_) => Check::fail(
            "zig",
            "neither `zig` nor python3's ziglang",
            format!(
                "pip install ziglang=={} (or `cargo xtask setup`)",
                pins::zig()
            ),
        ),
    }
}

/// One line per triple: the toolchain and linker `auto` picks on this host and why
/// (`linker::choose`), so a slow first run (zig building a C runtime) is explained before
/// it happens. Fails when a triple has none, with every reason.
pub fn toolchains(tools: &crate::toolchain::Tools) -> Check {
    let host = match tools.host {
        Some((os, cpu)) => format!("{} {cpu}", host_name(os)),
        None => "an unsupported host".to_owned(),
    };
    let mut details = Vec::new();
    let mut missing = Vec::new();
    let mut first_run = Vec::new();
    for t in &TARGETS {
        match crate::linker::choose(tools, t, &crate::toolchain::Toolchains::default()) {
            Ok(c) => {
                if c.zig_builds_runtime {
                    first_run.push(t.triple);
                }
                details.push(c.to_string());
            }
            Err(e) => {
                details.push(format!("{e:#}"));
                missing.push(t.triple);
            }
        }
    }
    let first_run = match first_run.as_slice() {
        [] => "zig builds no C runtime on a first run".to_owned(),
        some => format!(
            "zig builds a C runtime for {} on a first run (minutes, once per zig cache)",
            some.join(", ")
        ),
    };
    let found = format!(
        "on {host}: {} of {} targets have a toolchain; {first_run}",
        TARGETS.len() - missing.len(),
        TARGETS.len()
    );
    Check {
        name: "toolchains",
        status: if missing.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        found,
        fix: (!missing.is_empty()).then(|| {
            format!(
                "install what the lines for {} name (`cargo xtask setup` installs zig and cargo-zigbuild)",
                missing.join(", ")
            )
        }),
        details,
    }
}

fn host_name(os: Os) -> &'static str {
    match os {
        Os::Darwin => "macOS",
        Os::Windows => "Windows",
        Os::Linux => "Linux",
    }
}

fn cross() -> Check {
    // Never run `cross` here: without a pinned toolchain it runs `rustup toolchain add
    // stable`, which tries to update the user's stable toolchain (seen here). Being on
    // PATH is what counts.
    match which::which("cross") {
        Ok(path) => Check::pass("cross", path.display().to_string()),
        Err(_) => Check {
            name: "cross",
            status: Status::Warn,
            found: "not found (optional: zigbuild covers every target)".into(),
            fix: Some("cargo install cross --locked".into()),
            details: Vec::new(),
        },
    }
}

fn docker_daemon() -> Check {
    if which::which("docker").is_err() {
        return Check::fail(
            "docker",
            "`docker` not on PATH",
            "apt-get install docker.io (Linux) or install Docker Desktop",
        );
    }
    match Cmd::new("docker", ["info", "--format", "{{.ServerVersion}}"]).read() {
        Ok(v) if !v.trim().is_empty() => Check::pass("docker", format!("engine {}", v.trim())),
        _ => Check::fail(
            "docker",
            "cannot reach the Docker daemon (`docker info` failed)",
            "start it: sudo systemctl start docker (or `dockerd &`), or set DOCKER_HOST",
        ),
    }
}

fn buildx() -> Check {
    let fix = "install the buildx plugin: apt-get install docker-buildx (or see .ci/install.sh)";
    match Cmd::new("docker", ["buildx", "version"]).read() {
        Err(_) => Check::fail("buildx", "`docker buildx` not available", fix),
        Ok(v) => match docker::buildx_version(&v) {
            Some(have) if have >= docker::MIN_BUILDX => Check::pass("buildx", v.trim()),
            _ => Check::fail(
                "buildx",
                format!(
                    "{} (need {}.{}+)",
                    v.trim(),
                    docker::MIN_BUILDX.0,
                    docker::MIN_BUILDX.1
                ),
                fix,
            ),
        },
    }
}

fn registry(ctx: &Context) -> Check {
    let Some(image) = &ctx.image else {
        let found = ctx.image_error.as_deref().unwrap_or("no image name");
        return Check::fail(
            "registry",
            found,
            "set [workspace.metadata.extension] image (and a semver version) in Cargo.toml, or pass --image",
        );
    };
    let registry = image.registry().to_owned();
    match docker::inspect_raw(ctx.builder.as_deref(), image) {
        Ok(Remote::Found { .. }) => {
            Check::pass("registry", format!("{registry} answers; {image} exists"))
        }
        Ok(Remote::NotFound) => Check::pass(
            "registry",
            format!("{registry} answers; {image} is not published yet"),
        ),
        Err(e) => {
            let msg = format!("{e:#}");
            let fix = if msg.contains("docker login") {
                format!("docker login {registry}")
            } else {
                format!("check that {registry} is up and reachable from here, and the image name ({image}) is right")
            };
            if ctx.push {
                Check::fail("registry", msg, fix)
            } else {
                // Only publishing talks to the registry: a local `dist` runs without it.
                Check {
                    name: "registry",
                    status: Status::Warn,
                    found: format!("{msg} (needed only for `dist --push`, `verify` and `merge`)"),
                    fix: Some(fix),
                    details: Vec::new(),
                }
            }
        }
    }
}

/// What the smoke runs need to execute the binaries of the other CPU and of Windows here.
/// Optional: without them those binaries are listed as not run, with the reason.
fn emulators() -> Check {
    let tools = smoke::Tools::detect();
    match tools.host {
        Some((Os::Darwin, crate::target::Cpu::Aarch64)) => return rosetta(tools.rosetta),
        // A Mac runs Mach-O of its own CPU only; the rest is listed as not run.
        Some((Os::Darwin, _)) => return Check::pass("emulators", "none needed on an Intel Mac"),
        _ => {}
    }
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for (name, have) in [
        (
            "qemu-user (the other Linux CPU)",
            tools.qemu_aarch64.as_ref().or(tools.qemu_x86_64.as_ref()),
        ),
        ("wine (x86_64 Windows)", tools.wine.as_ref()),
        (
            "x86_64-w64-mingw32-gcc (wine's ProcessPrng shim)",
            tools.mingw_gcc.as_ref(),
        ),
    ] {
        match have {
            Some(p) => found.push(p.to_string()),
            None => missing.push(name),
        }
    }
    if missing.is_empty() {
        return Check::pass("emulators", found.join(", "));
    }
    Check {
        name: "emulators",
        status: Status::Warn,
        found: format!(
            "missing {} (optional: dist lists the binaries it cannot run here)",
            missing.join(", ")
        ),
        fix: Some("bash .ci/install-emulators.sh (apt-get install qemu-user-static wine64 gcc-mingw-w64-x86-64)".into()),
        details: Vec::new(),
    }
}

/// On Apple silicon, Rosetta 2 lets the smoke runs start the x86_64 Mach-O too.
fn rosetta(installed: bool) -> Check {
    match installed {
        true => Check::pass("emulators", "Rosetta 2 (x86_64 Mach-O)"),
        false => Check {
            name: "emulators",
            status: Status::Warn,
            found: "Rosetta 2 not installed (optional: dist lists the x86_64 Mach-O as not run)"
                .into(),
            fix: Some("softwareupdate --install-rosetta --agree-to-license".into()),
            details: Vec::new(),
        },
    }
}

fn disk() -> Check {
    let dir = paths::root();
    let free_kib = Cmd::new("df", ["-Pk", dir.as_str()])
        .read()
        .ok()
        .and_then(|out| {
            out.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        });
    match free_kib {
        Some(kib) if kib >= MIN_FREE_GIB << 20 => Check::pass(
            "disk",
            format!("{:.1} GiB free", kib as f64 / (1 << 20) as f64),
        ),
        Some(kib) => Check::fail(
            "disk",
            format!(
                "{:.1} GiB free (need {MIN_FREE_GIB} GiB)",
                kib as f64 / (1 << 20) as f64
            ),
            "free space, e.g. `cargo clean` or `docker system prune`",
        ),
        None => Check {
            name: "disk",
            status: Status::Warn,
            found: "cannot read free space (`df`)".into(),
            fix: None,
            details: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Cpu;
    use crate::toolchain::tests::all_tools;
    use crate::toolchain::Tools;

    #[test]
    fn toolchains_name_each_triples_linker_per_host() {
        let linux = toolchains(&all_tools());
        assert_eq!(linux.status, Status::Pass, "{linux}");
        assert!(
            linux.found.starts_with("on Linux x86_64: 6 of 6 targets have a toolchain; zig builds a C runtime for aarch64-pc-windows-gnullvm on a first run"),
            "{linux}"
        );
        assert_eq!(linux.details.len(), 6);
        assert!(linux.details[1].starts_with(
            "x86_64-pc-windows-gnu: zigbuild, linked by x86_64-w64-mingw32-gcc (cargo-zigbuild and zig"
        ));

        let mac = toolchains(&Tools {
            host: Some((Os::Darwin, Cpu::Aarch64)),
            apple_sdk: true,
            ..all_tools()
        });
        assert!(mac.found.starts_with("on macOS arm64: 6 of 6"), "{mac}");
        assert!(
            mac.details[3].starts_with("aarch64-apple-darwin: zigbuild, linked by Apple's cc"),
            "{mac}"
        );

        // A Windows host without zig or MinGW-w64: nothing reaches darwin, and the fix
        // is named on the line of each triple.
        let bare = toolchains(&Tools {
            host: Some((Os::Windows, Cpu::X86_64)),
            cargo_zigbuild: false,
            cross: false,
            linkers: Vec::new(),
            ..all_tools()
        });
        assert_eq!(bare.status, Status::Fail);
        assert!(
            bare.found.starts_with("on Windows x86_64: 0 of 6"),
            "{bare}"
        );
        assert!(bare.details[1].contains("choco install mingw"), "{bare}");
        assert!(bare.fix.unwrap().contains("x86_64-apple-darwin"));
        let json = mac.to_json();
        assert_eq!(json["details"].as_array().unwrap().len(), 6);
        assert_eq!(rosetta(true).status, Status::Pass);
        let without = rosetta(false);
        assert_eq!(without.status, Status::Warn);
        assert!(without.fix.unwrap().contains("install-rosetta"));
    }
}
