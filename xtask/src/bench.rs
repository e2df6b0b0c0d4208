//! `cargo xtask bench`: wall-time figures and ratios against a baseline run in the same
//! invocation. Figures, not assertions: speed is tracked by reading them.

use std::time::Duration;

use anyhow::{Context, Result};
use camino::Utf8Path;
use xshell::Shell;

use crate::flags::{BenchCmd, BenchWhat, BuildOpts};
use crate::plan::CmdSpec;
use crate::progress::Reporter;
use crate::{build, paths};

impl BenchCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self.what {
            BenchWhat::Stage => bench_stage(sh),
        }
    }
}

fn bench_stage(sh: &Shell) -> Result<()> {
    let rep = Reporter::new(false);
    let opts = BuildOpts {
        platforms: Vec::new(),
        toolchains: vec!["zigbuild".into()],
        metadata: None,
        dry_run: false,
        verbose: false,
    };
    let plan = build::prepare(sh, &rep, &opts, &[])?.plan;
    build::run_setup(&rep, &plan)?;
    let job = plan.builds.first().context("the plan has no build job")?;
    let bench_dir = paths::target_dir().join("bench");
    let exe = std::env::current_exe().context("cannot locate the xtask binary")?;
    let exe = exe.to_str().context("xtask's path is not UTF-8")?;

    // Ours: `cargo xtask stage`, cold (fresh target dir), then again with nothing changed.
    let ours_dir = fresh(&bench_dir.join("stage"))?;
    let stage = with_target_dir(
        CmdSpec::new(exe, ["stage", "--toolchain", "zigbuild"]),
        &ours_dir,
    );
    let cold = rep.run("cold stage", &stage, |_| None)?;
    let rerun = rep.run("no-change stage", &stage, |_| None)?;

    // Baseline: one cargo invocation per triple, one after another, fresh target dir.
    let base_dir = fresh(&bench_dir.join("baseline"))?;
    let mut baseline = Duration::ZERO;
    for t in &job.targets {
        let cmd = with_target_dir(single_target(&job.cmd, t.triple), &base_dir);
        baseline += rep.run(&format!("baseline {t}"), &cmd, |_| None)?;
    }

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "bench stage ({} triples, zigbuild, {} cores)",
        job.targets.len(),
        cores()
    );
    println!(
        "  baseline: one cargo invocation per triple  {:>8.2} s",
        secs(baseline)
    );
    println!(
        "  cold `stage` (one invocation)              {:>8.2} s",
        secs(cold)
    );
    println!(
        "  no-change re-run                           {:>8.2} s",
        secs(rerun)
    );
    println!(
        "  cold / baseline   {:>6.3}  (goal <= 0.55)",
        secs(cold) / secs(baseline)
    );
    println!(
        "  re-run / cold     {:>6.3}  (goal <= 0.05)",
        secs(rerun) / secs(cold)
    );
    Ok(())
}

fn fresh(dir: &Utf8Path) -> Result<camino::Utf8PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {dir}"))?;
    }
    Ok(dir.to_owned())
}

fn with_target_dir(mut cmd: CmdSpec, dir: &Utf8Path) -> CmdSpec {
    cmd.env.push(("CARGO_TARGET_DIR".into(), dir.to_string()));
    cmd
}

/// The same cargo command restricted to one `--target`.
fn single_target(cmd: &CmdSpec, triple: &str) -> CmdSpec {
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
    CmdSpec {
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
        let cmd = CmdSpec::new(
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
}
