//! Plan, then run: every command and every staged path as data. Running it, printing it
//! (`--dry-run`) and testing it are three consumers of the same plan.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use crate::cmd::Cmd;
use crate::linker::{self, Choice};
use crate::metadata::Extension;
use crate::paths;
use crate::target::{ImagePlatform, Target, TARGETS};
use crate::toolchain::{Toolchain, Toolchains, Tools};
use crate::workspace::InstalledTargets;

/// One toolchain invocation and the triples it builds.
#[derive(Debug, Clone)]
pub struct BuildJob {
    pub toolchain: Toolchain,
    pub targets: Vec<&'static Target>,
    pub cmd: Cmd,
    /// Every binary the command produces (all `--bin`s for all its targets).
    pub outputs: Vec<Utf8PathBuf>,
}

impl BuildJob {
    pub fn name(&self) -> String {
        match self.targets.as_slice() {
            [one] => format!("{} {}", self.toolchain, one),
            many => format!("{} ({} targets)", self.toolchain, many.len()),
        }
    }
}

/// What one staged file is and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host binary cargo builds for `target`.
    Binary {
        target: &'static Target,
        path: Utf8PathBuf,
    },
    /// A third-party binary from `vendor.toml`, fetched into the cache by its hash.
    Vendored(Box<crate::vendor::Artifact>),
    /// A file copied as is (metadata, icon).
    File(Utf8PathBuf),
    /// A directory copied recursively (the UI).
    Dir(Utf8PathBuf),
}

/// The file system of one image variant.
#[derive(Debug, Clone)]
pub struct PlatformStage {
    pub platform: ImagePlatform,
    /// Destination (relative to the variant's root) -> source.
    pub entries: BTreeMap<String, Source>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// `rustup target add` for targets this toolchain lacks.
    pub setup: Vec<Cmd>,
    /// Each triple's toolchain and linker, and why, for the log.
    pub choices: Vec<Choice>,
    pub builds: Vec<BuildJob>,
    /// The UI's build commands (each skipped when its inputs are unchanged); empty
    /// when metadata.json names no UI.
    pub ui: Vec<Cmd>,
    pub stages: Vec<PlatformStage>,
}

/// Everything the plan depends on, gathered up front so planning is a pure function.
pub struct Inputs<'a> {
    pub ext: &'a Extension,
    /// Binary target -> the workspace package that builds it.
    pub bin_packages: &'a BTreeMap<String, String>,
    /// The VM service's binary target, when the image runs one of ours (see
    /// `service_bin`): built for each platform's Linux triple and staged at `/<name>`.
    pub service: Option<&'a str>,
    pub platforms: &'a [ImagePlatform],
    /// Restrict to these triples (`build --target`); empty means all that the platforms need.
    pub only: &'a [&'static Target],
    pub toolchains: &'a Toolchains,
    pub tools: &'a Tools,
    pub installed: &'a InstalledTargets,
    /// The npm program that builds the UI (found on PATH by the caller).
    pub npm: &'a str,
    /// What each vendored path gets on each platform.
    pub vendored: &'a crate::vendoring::Artifacts,
    /// The rustup toolchain to hand cross (`+NAME`), so cross never installs its own.
    pub rust_toolchain: Option<&'a str>,
    pub target_dir: &'a Utf8Path,
    /// Exported to the builds as `SOURCE_DATE_EPOCH`: linkers that stamp the link time
    /// (zig's and GNU ld's PE TimeDateStamp) stamp this instead, so a rebuild of the same
    /// sources gives the same bytes.
    pub epoch_secs: u64,
}

pub fn plan(inp: &Inputs) -> Result<Plan> {
    let mut oses = inp.ext.oses();
    if inp.service.is_some() {
        // The service runs in Docker Desktop's Linux VM: the variant's static musl triple.
        oses.insert(crate::target::Os::Linux);
    }
    let targets: Vec<&'static Target> = TARGETS
        .iter()
        .filter(|t| inp.platforms.contains(&t.platform()) && oses.contains(&t.os))
        .filter(|t| inp.only.is_empty() || inp.only.contains(t))
        .collect();
    let outside: Vec<&str> = inp
        .only
        .iter()
        .filter(|t| !targets.contains(t))
        .map(|t| t.triple)
        .collect();
    if !outside.is_empty() {
        anyhow::bail!(
            "--target {}: not built for the selected platforms ({}) and the OSes metadata.json names binaries for",
            outside.join(", "),
            inp.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
    }

    // Choose every toolchain before anything runs, and report all that are missing at once.
    let mut choices = Vec::new();
    let mut missing = Vec::new();
    for &t in &targets {
        match linker::choose(inp.tools, t, inp.toolchains) {
            Ok(c) => choices.push(c),
            Err(e) => missing.push(e.to_string()),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!("cannot build every target:\n  {}", missing.join("\n  "));
    }

    let absent: Vec<&str> = targets
        .iter()
        .map(|t| t.triple)
        .filter(|t| !inp.installed.targets.contains(*t))
        .collect();
    if !absent.is_empty() && !inp.installed.rustup {
        anyhow::bail!(
            "the Rust standard library is missing for {} and rustup is not installed to add it: \
             install rustup (https://rustup.rs) or your distribution's rust-std package for each target",
            absent.join(", ")
        );
    }
    let setup = absent
        .iter()
        .map(|t| Cmd::new("rustup", ["target", "add", t]))
        .collect();
    let mut builds = build_jobs(inp, &choices);
    for job in &mut builds {
        job.cmd
            .env
            .push(("SOURCE_DATE_EPOCH".into(), inp.epoch_secs.to_string()));
    }
    let stages = inp
        .platforms
        .iter()
        .map(|&p| stage_entries(inp, p, &targets))
        .collect();
    let ui = if inp.ext.ui_root.is_some() {
        crate::ui::commands(inp.npm)
    } else {
        Vec::new()
    };
    Ok(Plan {
        setup,
        choices,
        builds,
        ui,
        stages,
    })
}

fn cargo_args(inp: &Inputs) -> Vec<String> {
    let mut args: Vec<String> = [
        "--release",
        "--locked",
        "--message-format=json-render-diagnostics",
    ]
    .map(String::from)
    .into();
    let bins = built_bins(inp);
    let packages: BTreeSet<&str> = bins.iter().map(|b| inp.bin_packages[*b].as_str()).collect();
    for p in packages {
        args.extend(["--package".into(), p.to_owned()]);
    }
    for b in bins {
        args.extend(["--bin".into(), b.to_owned()]);
    }
    args
}

/// Every binary target one build makes: the host binaries and the VM service. Cargo
/// builds each for every `--target` of its invocation (it cannot pick binaries per
/// target), so the service is built for the macOS and Windows triples too, where its
/// crate compiles to a stub, and only the Linux builds are staged: one invocation instead
/// of a second, serial one for two triples.
fn built_bins<'a>(inp: &Inputs<'a>) -> BTreeSet<&'a str> {
    let mut bins = inp.ext.bins();
    bins.extend(inp.service);
    bins
}

/// The binary that serves metadata.json's `vm`, when the image must carry one of ours:
/// the extension runs its own image and Cargo.toml names the service. Without `vm` (or
/// with another image) there is nothing to build.
pub fn service_bin<'a>(ext: &Extension, configured: Option<&'a str>) -> Result<Option<&'a str>> {
    if !ext.runs_own_image() {
        return Ok(None);
    }
    match configured {
        Some(bin) => Ok(Some(bin)),
        None => anyhow::bail!(
            "{}: `vm` runs this extension's own image ({}), but no binary of the workspace is its service: \
             set [workspace.metadata.extension] vm-service = \"BIN\" in Cargo.toml",
            ext.file,
            crate::metadata::OWN_IMAGE
        ),
    }
}

fn build_jobs(inp: &Inputs, choices: &[Choice]) -> Vec<BuildJob> {
    let common = cargo_args(inp);
    let with_targets = |mut args: Vec<String>, ts: &[&'static Target]| {
        args.extend(common.iter().cloned());
        for t in ts {
            args.extend(["--target".to_owned(), t.triple.to_owned()]);
        }
        args
    };
    let bins = built_bins(inp);
    let outputs = |ts: &[&'static Target]| -> Vec<Utf8PathBuf> {
        ts.iter()
            .flat_map(|t| {
                bins.iter().map(|b| {
                    inp.target_dir
                        .join(t.triple)
                        .join("release")
                        .join(t.exe_name(b))
                })
            })
            .collect()
    };
    let mut jobs = Vec::new();
    for toolchain in Toolchain::ALL {
        let ts: Vec<&'static Target> = choices
            .iter()
            .filter(|c| c.toolchain == toolchain)
            .map(|c| c.target)
            .collect();
        if ts.is_empty() {
            continue;
        }
        match toolchain {
            // One invocation for all triples: cargo shares the host-side work (build
            // scripts, proc macros) and keeps both cores busy (about half the time of one
            // invocation per triple, measured by `cargo xtask bench stage`).
            // Per target, how it links (rust-lld for musl, MinGW-w64's gcc for x86_64
            // Windows, Apple's cc on a Mac, zig without the runtimes Rust never uses):
            // see `linker::zig_link_env`.
            Toolchain::Zigbuild => {
                let mut cmd = Cmd::new("cargo", with_targets(vec!["zigbuild".into()], &ts));
                cmd.env
                    .extend(crate::toolchain::zig_command_env(inp.tools, |k| {
                        std::env::var(k).ok()
                    }));
                for t in &ts {
                    cmd.env.extend(linker::zig_link_env(t, inp.tools));
                }
                jobs.push(BuildJob {
                    toolchain,
                    cmd,
                    outputs: outputs(&ts),
                    targets: ts,
                });
            }
            Toolchain::Cargo => jobs.push(BuildJob {
                toolchain,
                cmd: Cmd::new("cargo", with_targets(vec!["build".into()], &ts)),
                outputs: outputs(&ts),
                targets: ts,
            }),
            // cross runs one container image per triple, so it takes one --target at a time.
            Toolchain::Cross => {
                for t in ts {
                    let mut head = Vec::new();
                    if let Some(tc) = inp.rust_toolchain {
                        head.push(format!("+{tc}"));
                    }
                    head.push("build".into());
                    // cross passes only the variables it is told to into its container,
                    // where the linker stamps the PE header: without SOURCE_DATE_EPOCH
                    // there, each build stamps its own time (toolchains::cross_builds_windows_gnu).
                    let passthrough = match std::env::var("CROSS_BUILD_ENV_PASSTHROUGH") {
                        Ok(v) if !v.trim().is_empty() => format!("{} SOURCE_DATE_EPOCH", v.trim()),
                        _ => "SOURCE_DATE_EPOCH".to_owned(),
                    };
                    jobs.push(BuildJob {
                        toolchain,
                        cmd: Cmd::new("cross", with_targets(head, &[t]))
                            .env("CROSS_BUILD_ENV_PASSTHROUGH", passthrough),
                        outputs: outputs(&[t]),
                        targets: vec![t],
                    });
                }
            }
        }
    }
    jobs
}

fn stage_entries(
    inp: &Inputs,
    platform: ImagePlatform,
    targets: &[&'static Target],
) -> PlatformStage {
    let mut entries = BTreeMap::new();
    entries.insert(
        "metadata.json".to_owned(),
        Source::File(inp.ext.file.clone()),
    );
    let icon = &inp.ext.metadata.icon;
    entries.insert(icon.clone(), Source::File(inp.ext.dir.join(icon)));
    if let Some(root) = &inp.ext.ui_root {
        entries.insert(root.clone(), Source::Dir(crate::ui::output_dir()));
    }
    for b in inp.ext.vendored() {
        if let Some(a) = inp.vendored.get(&(platform, b.path.clone())) {
            entries.insert(b.path.clone(), Source::Vendored(Box::new(a.clone())));
        }
    }
    for b in inp.ext.built() {
        let target = targets
            .iter()
            .find(|t| t.platform() == platform && t.os == b.os)
            .copied();
        if let Some(target) = target {
            let path = inp
                .target_dir
                .join(target.triple)
                .join("release")
                .join(target.exe_name(&b.bin));
            entries.insert(b.path.clone(), Source::Binary { target, path });
        }
    }
    let linux = targets
        .iter()
        .find(|t| t.platform() == platform && t.os == crate::target::Os::Linux);
    if let (Some(bin), Some(target)) = (inp.service, linux) {
        // At the image root, where the Dockerfile's CMD names it (Docker's template has
        // `/service`).
        let path = inp
            .target_dir
            .join(target.triple)
            .join("release")
            .join(target.exe_name(bin));
        entries.insert(bin.to_owned(), Source::Binary { target, path });
    }
    for f in inp.ext.vm_files() {
        entries.insert(f.clone(), Source::File(inp.ext.dir.join(&f)));
    }
    PlatformStage { platform, entries }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "toolchains:")?;
        for c in &self.choices {
            writeln!(f, "  {c}")?;
        }
        if !self.setup.is_empty() {
            writeln!(f, "setup:")?;
            for c in &self.setup {
                writeln!(f, "  {c}")?;
            }
        }
        writeln!(f, "build:")?;
        for j in &self.builds {
            writeln!(f, "  [{}] {}", j.name(), j.cmd)?;
        }
        for s in &self.stages {
            writeln!(
                f,
                "stage {} -> {}:",
                s.platform,
                paths::stage_dir().join(s.platform.stage_name())
            )?;
            for (dest, src) in &s.entries {
                let (from, what) = match src {
                    Source::Binary { target, path } => (path, format!(" ({})", target.triple)),
                    Source::Vendored(a) => {
                        let fallback = a
                            .fallback_note()
                            .map(|n| format!("; {n}"))
                            .unwrap_or_default();
                        writeln!(
                            f,
                            "  {dest} <- {} (vendored {} {}, sha256 {}{fallback})",
                            a.upstream.url, a.name, a.version, a.sha256
                        )?;
                        continue;
                    }
                    Source::File(p) => (p, String::new()),
                    Source::Dir(p) => (p, " (directory)".to_owned()),
                };
                writeln!(f, "  {dest} <- {from}{what}")?;
            }
            writeln!(f, "  SHA256SUMS <- checksums of the binaries above")?;
        }
        Ok(())
    }
}
