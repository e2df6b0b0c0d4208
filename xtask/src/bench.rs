//! `cargo xtask bench`: wall-time figures and ratios against a baseline run in the same
//! invocation. Figures, not assertions: speed is tracked by reading them.
//!
//! The baseline does the same work the naive way: one cargo invocation per triple, one
//! after another, then the UI build, then (for `dist`) one `docker buildx build` per
//! platform and `imagetools create`. Ours is the real command on a fresh target dir.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::build::BuildOptions;
use crate::cmd::Cmd;
use crate::flags::{BenchCmd, BenchWhat};
use crate::plan::BuildJob;
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::target::ImagePlatform;
use crate::toolchain::{Toolchain, Toolchains};
use crate::{build, docker, paths, ui};

impl BenchCmd {
    pub fn run(self) -> Result<()> {
        let b = Bench::new()?;
        match self.what {
            BenchWhat::Stage => b.stage(),
            BenchWhat::Dist { image } => b.dist(&ImageRef::parse(&image).context("--image")?),
            BenchWhat::FirstRun => b.first_run(),
            BenchWhat::XtaskBuild { rust_analyzer } => b.xtask_build(rust_analyzer.as_deref()),
        }
    }
}

struct Bench {
    rep: Reporter,
    job: BuildJob,
    /// The triples whose first build has zig compile a C runtime (its MinGW CRT).
    zig_runtime: Vec<&'static crate::target::Target>,
    dir: Utf8PathBuf,
    exe: String,
}

impl Bench {
    fn new() -> Result<Bench> {
        let rep = Reporter::new(false);
        let opts = BuildOptions {
            toolchains: Toolchains {
                default: Some(Toolchain::Zigbuild),
                ..Toolchains::default()
            },
            ..BuildOptions::default()
        };
        let plan = build::prepare(&rep, &opts)?.plan;
        let zig_runtime = plan
            .choices
            .iter()
            .filter(|c| c.zig_builds_runtime)
            .map(|c| c.target)
            .collect();
        build::run_setup(&rep, &plan)?;
        let job = plan
            .builds
            .first()
            .context("the plan has no build job")?
            .clone();
        let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
        let exe = exe
            .to_str()
            .context("xtask's path is not UTF-8")?
            .to_owned();
        Ok(Bench {
            rep,
            job,
            zig_runtime,
            dir: paths::target_dir().join("bench"),
            exe,
        })
    }

    fn ours(&self, name: &str, args: &[&str], target: &Utf8Path) -> Result<Duration> {
        let cmd = with_target_dir(Cmd::new(&self.exe, args.iter().copied()), target);
        self.rep.run(name, &cmd, |_| None)
    }

    /// One cargo invocation per triple, one after another.
    fn baseline_build(&self) -> Result<Duration> {
        let dir = fresh(&self.dir.join("baseline"))?;
        let mut took = Duration::ZERO;
        for t in &self.job.targets {
            let cmd = with_target_dir(single_target(&self.job.cmd, t.triple), &dir);
            took += self.rep.run(&format!("baseline {t}"), &cmd, |_| None)?;
        }
        Ok(took)
    }

    /// The UI the naive way: type-check, then build.
    fn baseline_ui(&self) -> Result<Duration> {
        let npm = ui::npm_program();
        let check = self
            .rep
            .run("baseline ui typecheck", &ui::npm_typecheck(&npm), |_| None)?;
        Ok(check
            + self
                .rep
                .run("baseline ui build", &ui::npm_build(&npm), |_| None)?)
    }

    fn stage(&self) -> Result<()> {
        // Host binaries alone: the compilation strategy the goal is about.
        let bins = fresh(&self.dir.join("build"))?;
        let cold_bins = self.ours("cold build", &["build", "--toolchain", "zigbuild"], &bins)?;
        // The whole stage, UI included, then again with nothing changed.
        let target = fresh(&self.dir.join("stage"))?;
        let args = ["stage", "--toolchain", "zigbuild"];
        // A fresh target dir has no UI build stamp, so the UI is built too.
        let cold = self.ours("cold stage", &args, &target)?;
        let rerun = self.ours("no-change stage", &args, &target)?;
        let baseline = self.baseline_build()?;
        let baseline_ui = self.baseline_ui()?;
        self.header("stage");
        row(
            "baseline: one cargo invocation per triple, in turn",
            baseline,
        );
        row("cold `cargo xtask build` (one invocation)", cold_bins);
        row(
            "baseline + UI type-check and build, in turn",
            baseline + baseline_ui,
        );
        row("cold `cargo xtask stage` (binaries beside the UI)", cold);
        row("no-change `stage`", rerun);
        ratio(
            "host binaries: cold / baseline",
            cold_bins,
            baseline,
            "<= 0.50",
        );
        ratio(
            "stage with UI: cold / baseline",
            cold,
            baseline + baseline_ui,
            "<= 0.45",
        );
        ratio("no-change / cold stage", rerun, cold, "<= 0.05");
        Ok(())
    }

    fn dist(&self, image: &ImageRef) -> Result<()> {
        let target = fresh(&self.dir.join("dist"))?;
        let repo = image.repo.as_str();
        // --force: every run republishes the same bench tag.
        let args = [
            "dist",
            "--push",
            "--force",
            "--toolchain",
            "zigbuild",
            "--image",
            repo,
            "--tag",
            "0.0.0-bench",
        ];
        let cold = self.ours("cold dist", &args, &target)?;
        let rerun = self.ours("no-change dist", &args, &target)?;
        let touched = {
            let _edit = SourceEdit::apply(&paths::root().join("host-bin/src/main.rs"))?;
            self.ours("one-file-change dist", &args, &target)?
        };

        let mut baseline = self.baseline_build()? + self.baseline_ui()?;
        let stage = target.join("dist/stage");
        let mut manifests = Vec::new();
        for p in ImagePlatform::ALL {
            let md = self.dir.join(format!("baseline-{}.json", p.stage_name()));
            let r = image.with_tag(&format!("0.0.0-baseline-{}", p.0.docker()));
            let cmd = docker::build(
                None,
                &paths::dockerfile(),
                &stage,
                &[p],
                docker::Output::Push(&r),
                Some(&md),
                None,
            );
            baseline += self
                .rep
                .run(&format!("baseline image {p}"), &cmd, |_| None)?;
            manifests.push(image.with_digest(&docker::metadata_digest(&md)?));
        }
        let merge = docker::imagetools_create(None, &image.with_tag("0.0.0-baseline"), &manifests);
        baseline += self.rep.run("baseline index", &merge, |_| None)?;

        self.header("dist --push");
        row(
            "baseline: per-triple cargo, UI, per-platform buildx, merge",
            baseline,
        );
        row(
            "cold `cargo xtask dist --push` (verified, then tag checked)",
            cold,
        );
        row("no-change re-run", rerun);
        row("re-run after a one-file change in host-bin", touched);
        ratio("cold / baseline", cold, baseline, "<= 0.50");
        ratio("no-change / cold", rerun, cold, "<= 0.05");
        ratio("one-file change / cold", touched, cold, "<= 0.30");
        Ok(())
    }

    /// A first build pays for zig's own compiles; a later cold build (new target dir)
    /// finds them in zig's cache. Linux links with rust-lld, macOS without zig's runtimes
    /// and x86_64 Windows with MinGW-w64 where installed (`linker::zig_link_env`), so what
    /// is left is zig's MinGW CRT for the Windows triples zig links: the second row,
    /// without them, shows it.
    fn first_run(&self) -> Result<()> {
        let args = ["build", "--toolchain", "zigbuild"];
        let first_build = |name: &str, dir: &str, extra: &[&str]| -> Result<(Duration, u64)> {
            let zig_cache = fresh(&self.dir.join(format!("{dir}-zig-cache")))?;
            let target = fresh(&self.dir.join(dir))?;
            let all: Vec<&str> = args.iter().chain(extra).copied().collect();
            let cmd = with_target_dir(Cmd::new(&self.exe, all), &target)
                .env("ZIG_GLOBAL_CACHE_DIR", zig_cache.as_str());
            let took = self.rep.run(name, &cmd, |_| None)?;
            Ok((took, dir_bytes(zig_cache.as_std_path())))
        };
        let (first, first_bytes) = first_build("first build, empty zig cache", "first-run", &[])?;
        let others: Vec<&str> = self
            .job
            .targets
            .iter()
            .filter(|t| !self.zig_runtime.contains(t))
            .flat_map(|t| ["--target", t.triple])
            .collect();
        let zig_runtime = self
            .zig_runtime
            .iter()
            .map(|t| t.triple)
            .collect::<Vec<_>>()
            .join(", ");
        let without = format!("without {zig_runtime}");
        let (unix, unix_bytes) = first_build(
            &format!("first build {without}, empty zig cache"),
            "first-run-unix",
            &others,
        )?;
        let warm = self.ours(
            "cold build, zig cache warm",
            &args,
            &fresh(&self.dir.join("warm"))?,
        )?;
        self.header("first run");
        let mb = |b: u64| b as f64 / 1e6;
        row(
            &format!(
                "first `cargo xtask build` ({:.0} MB into zig's cache)",
                mb(first_bytes)
            ),
            first,
        );
        row(
            &format!("  same {without} ({:.1} MB)", mb(unix_bytes)),
            unix,
        );
        row(
            "cold `cargo xtask build`: new target dir, zig cache warm",
            warm,
        );
        ratio("first / warm cold build", first, warm, "<= 4");
        ratio(&format!("{without} / warm"), unix, warm, "<= 4");
        Ok(())
    }

    /// `cargo build -p xtask` from nothing, ours and rust-analyzer's, one after another.
    fn xtask_build(&self, rust_analyzer: Option<&Utf8Path>) -> Result<()> {
        let build = |name: &str, manifest: &Utf8Path, package: &str| -> Result<Duration> {
            let target = fresh(&self.dir.join(format!("xtask-build-{name}")))?;
            let cmd = Cmd::new(
                "cargo",
                [
                    "build",
                    "--manifest-path",
                    manifest.as_str(),
                    "--package",
                    package,
                ],
            );
            self.rep.run(name, &with_target_dir(cmd, &target), |_| None)
        };
        let ours = build("ours", &paths::root().join("Cargo.toml"), "xtask")?;
        let (what, theirs) = match rust_analyzer {
            Some(dir) => (
                format!("rust-analyzer's xtask ({dir})"),
                build("rust-analyzer", &dir.join("Cargo.toml"), "xtask")?,
            ),
            None => (
                "xtask/bench/ra-xtask-deps (rust-analyzer's xtask dependencies)".to_owned(),
                build(
                    "baseline",
                    &paths::root().join("xtask/bench/ra-xtask-deps/Cargo.toml"),
                    "ra-xtask-deps",
                )?,
            ),
        };
        self.header("xtask cold build");
        row("cold `cargo build -p xtask` (this workspace)", ours);
        row(&what, theirs);
        ratio("ours / rust-analyzer's", ours, theirs, "<= 1.5");
        Ok(())
    }

    fn header(&self, what: &str) {
        println!(
            "bench {what}: {} triples with zigbuild, {} cores",
            self.job.targets.len(),
            cores()
        );
    }
}

fn row(name: &str, d: Duration) {
    println!("  {name:<58} {:>8.2} s", d.as_secs_f64());
}

fn ratio(name: &str, a: Duration, b: Duration, goal: &str) {
    println!(
        "  {name:<28} {:>6.3}  (goal {goal})",
        a.as_secs_f64() / b.as_secs_f64()
    );
}

/// Appends a comment to a source file for one measurement and puts the exact bytes (and
/// mtime) back when dropped, error or not.
struct SourceEdit {
    path: Utf8PathBuf,
    original: Vec<u8>,
    mtime: std::time::SystemTime,
}

impl SourceEdit {
    fn apply(path: &Utf8Path) -> Result<SourceEdit> {
        let original = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        let mtime = std::fs::metadata(path)?.modified()?;
        let mut edited = original.clone();
        edited.extend_from_slice(
            b"\n// cargo xtask bench: a one-line change, reverted after the run\n",
        );
        std::fs::write(path, edited).with_context(|| format!("cannot write {path}"))?;
        Ok(SourceEdit {
            path: path.to_owned(),
            original,
            mtime,
        })
    }
}

impl Drop for SourceEdit {
    fn drop(&mut self) {
        let restored = std::fs::write(&self.path, &self.original)
            .and_then(|()| std::fs::File::options().write(true).open(&self.path))
            .and_then(|f| f.set_modified(self.mtime));
        if let Err(e) = restored {
            eprintln!(
                "error: could not restore {}: {e}; `git checkout {}` puts it back",
                self.path, self.path
            );
        }
    }
}

/// Bytes of the files under `dir` (0 where unreadable): what a first run left in a cache.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn fresh(dir: &Utf8Path) -> Result<Utf8PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {dir}"))?;
    }
    Ok(dir.to_owned())
}

fn with_target_dir(mut cmd: Cmd, dir: &Utf8Path) -> Cmd {
    cmd.env.push(("CARGO_TARGET_DIR".into(), dir.to_string()));
    cmd
}

/// The same cargo command restricted to one `--target`.
fn single_target(cmd: &Cmd, triple: &str) -> Cmd {
    let mut args = Vec::new();
    let mut it = cmd.args.iter();
    while let Some(a) = it.next() {
        if a == "--target" {
            it.next();
        } else {
            args.push(a.clone());
        }
    }
    args.extend(["--target".to_owned(), triple.to_owned()]);
    Cmd {
        args,
        ..cmd.clone()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_target_keeps_everything_but_the_targets() {
        let cmd = Cmd::new(
            "cargo",
            [
                "zigbuild",
                "--release",
                "--target",
                "a",
                "--bin",
                "x",
                "--target",
                "b",
            ],
        );
        let one = single_target(&cmd, "c");
        assert_eq!(
            one.args,
            ["zigbuild", "--release", "--bin", "x", "--target", "c"]
        );
    }

    #[test]
    fn source_edit_is_reverted_exactly() {
        let dir = paths::target_dir().join("xtask-unit/source-edit");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("main.rs");
        std::fs::write(&f, "fn main() {}\n").unwrap();
        let before = std::fs::metadata(&f).unwrap().modified().unwrap();
        {
            let _e = SourceEdit::apply(&f).unwrap();
            assert_ne!(std::fs::read_to_string(&f).unwrap(), "fn main() {}\n");
        }
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "fn main() {}\n");
        assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), before);
    }
}
