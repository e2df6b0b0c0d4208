//! `cargo xtask build`: plan the host-binary builds and run them.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::binfmt;
use crate::cmd::Cmd;
use crate::flags::{BuildCmd, BuildOpts};
use crate::metadata::Extension;
use crate::plan::{self, BuildJob, Inputs, Plan};
use crate::progress::Reporter;
use crate::target::{ImagePlatform, Target, TARGETS};
use crate::toolchain::{Toolchain, Toolchains, Tools};
use crate::{fingerprint, paths, ui, vendoring, workspace};

/// What `build`, `stage` and `dist` are asked to build: the flags, read once.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Sorted, without duplicates.
    pub platforms: Vec<ImagePlatform>,
    pub toolchains: Toolchains,
    pub metadata: Utf8PathBuf,
    /// Restrict to these triples (`build --target`); empty means all the platforms need.
    pub only: Vec<&'static Target>,
    pub dry_run: bool,
    pub verbose: bool,
    /// Vendored binaries from the cache only.
    pub offline: bool,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            platforms: ImagePlatform::ALL.to_vec(),
            toolchains: Toolchains::default(),
            metadata: paths::metadata_json(),
            only: Vec::new(),
            dry_run: false,
            verbose: false,
            offline: false,
        }
    }
}

impl From<&BuildOpts> for BuildOptions {
    fn from(o: &BuildOpts) -> BuildOptions {
        let mut platforms = o.platforms.clone();
        platforms.sort();
        platforms.dedup();
        if platforms.is_empty() {
            platforms = ImagePlatform::ALL.to_vec();
        }
        BuildOptions {
            platforms,
            toolchains: Toolchains::parse(&o.toolchains).expect("each checked by flags.rs"),
            metadata: o.metadata.clone().unwrap_or_else(paths::metadata_json),
            only: Vec::new(),
            dry_run: o.dry_run,
            verbose: o.verbose,
            offline: o.offline,
        }
    }
}

impl BuildCmd {
    pub fn run(self) -> Result<()> {
        let opts = BuildOptions {
            only: self.targets.clone(),
            ..BuildOptions::from(&self.opts)
        };
        let rep = Reporter::new(opts.verbose);
        let p = prepare(&rep, &opts)?;
        if opts.dry_run {
            print!("{}", p.plan);
            return Ok(());
        }
        let _lock = paths::lock_dist()?;
        run(&rep, &p)
    }
}

/// Reads metadata.json and the machine's tools and makes the plan. Everything that can be
/// wrong before compiling is found here, in seconds.
pub fn prepare(rep: &Reporter, opts: &BuildOptions) -> Result<Prepared> {
    let ws = workspace::load()?;
    // The VM service is never a host binary (metadata.json names it nowhere).
    let bins: BTreeSet<String> = ws
        .bins
        .keys()
        .filter(|b| Some(b.as_str()) != ws.vm_service.as_deref())
        .cloned()
        .collect();
    let manifest = vendoring::load(&opts.metadata)?;
    let known = vendoring::known(bins.clone(), manifest.as_ref());
    let ext = Extension::load(&opts.metadata, Some(&known))?;
    let service = plan::service_bin(&ext, ws.vm_service.as_deref())?;
    for w in &ext.warnings {
        rep.println(format!("warning: {w}"));
    }
    let vendored = vendoring::resolve(manifest.as_ref(), &ext, &opts.platforms, &bins)?;
    let epoch = workspace::source_date_epoch()?;
    // What is installed, asked of four programs (which, python, rustup, rustc) side by
    // side: in turn they were a third of a no-change `dist`.
    let (tools, installed, rustc_vv) = std::thread::scope(|s| {
        let tools = s.spawn(Tools::detect);
        let installed = s.spawn(workspace::installed_targets);
        let rustc_vv = workspace::rustc_vv();
        let join = "a tool probe panicked";
        (
            tools.join().expect(join),
            installed.join().expect(join),
            rustc_vv,
        )
    });
    let rustc_vv = rustc_vv?;
    let rust_toolchain = workspace::cross_toolchain(&rustc_vv);
    let plan = plan::plan(&Inputs {
        ext: &ext,
        bin_packages: &ws.bins,
        service,
        platforms: &opts.platforms,
        only: &opts.only,
        toolchains: &opts.toolchains,
        tools: &tools,
        installed: &installed?,
        npm: &ui::npm_program(),
        vendored: &vendored,
        rust_toolchain: rust_toolchain.as_deref(),
        target_dir: &paths::target_dir(),
        epoch_secs: epoch
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })?;
    Ok(Prepared {
        service: service.map(str::to_owned),
        plan,
        ws,
        built_for: vendoring::built_for(manifest.as_ref(), &ext),
        ext,
        epoch,
        fetch: vendoring::fetch_options(opts.offline)?,
        rustc_vv,
    })
}

/// The plan and what it was made from.
pub struct Prepared {
    pub plan: Plan,
    /// The VM service's binary, staged at `/<name>`, when the image runs one of ours.
    pub service: Option<String>,
    pub ws: workspace::Workspace,
    pub ext: Extension,
    /// `SOURCE_DATE_EPOCH` or the last commit's time: staged mtimes and link timestamps.
    pub epoch: std::time::SystemTime,
    /// How vendored binaries are downloaded.
    pub fetch: crate::vendor::fetch::FetchOptions,
    /// Where a vendored fallback ships another CPU's build: (platform, path) -> its CPU.
    pub built_for: std::collections::BTreeMap<(ImagePlatform, String), crate::target::Arch>,
    /// `rustc -vV`: the compiler's identity, an input of every build job's fingerprint.
    pub rustc_vv: String,
}

impl Prepared {
    /// The command the image runs its VM service with, if it carries one of ours.
    pub fn service_command(&self) -> Option<Vec<String>> {
        let bin = self.service.as_deref()?;
        Some(crate::codegen::service_command(bin, self.ext.socket()))
    }
}

/// Runs the plan's setup and build jobs; jobs of different toolchains run side by side.
pub fn run(rep: &Reporter, prepared: &Prepared) -> Result<()> {
    let plan = &prepared.plan;
    for c in &plan.choices {
        rep.println(c.to_string());
    }
    if plan.builds.iter().any(|j| j.toolchain == Toolchain::Cross) {
        preflight_cross()?;
    }
    run_setup(rep, plan)?;
    let sources = fingerprint::source_digest(
        &paths::root(),
        &prepared.ws.package_dirs,
        &prepared.rustc_vv,
    )?;
    let stamps = paths::dist_dir().join("build-stamps");
    let (stamps, sources) = (stamps.as_path(), sources.as_str());
    let results: Vec<Result<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .builds
            .iter()
            .map(|job| s.spawn(move || run_job(rep, job, stamps, sources)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("build thread panicked"))
            .collect()
    });
    let errors: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err())
        .map(|e| format!("{e:#}"))
        .collect();
    if !errors.is_empty() {
        bail!(
            "{} build job(s) failed:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(())
}

fn run_job(rep: &Reporter, job: &BuildJob, stamps: &Utf8Path, sources: &str) -> Result<()> {
    let name = job.name();
    if fingerprint::is_fresh(stamps, job, sources) {
        rep.println(format!(
            "[{name}] up to date: no input changed since its last successful build"
        ));
        return Ok(());
    }
    fingerprint::forget(stamps, job);
    rep.run(&name, &job.cmd, cargo_event)?;
    let stale = linked_at_another_time(job);
    if !stale.is_empty() {
        // Cargo does not relink for a new SOURCE_DATE_EPOCH (a commit that left the host
        // sources alone), so a PE file keeps the link time of the build before: bytes a
        // clean build at this commit would not give. Rebuild those packages' binaries.
        rep.println(format!(
            "[{name}] {} carry an earlier link time than SOURCE_DATE_EPOCH: relinking",
            stale.join(", ")
        ));
        for cmd in relink_cleans(job) {
            rep.run(&format!("{name}: clean"), &cmd, |_| None)?;
        }
        rep.run(&name, &job.cmd, cargo_event)?;
    }
    fingerprint::record(stamps, job, sources)
}

/// The job's PE outputs whose link time is not the `SOURCE_DATE_EPOCH` it was given.
fn linked_at_another_time(job: &BuildJob) -> Vec<String> {
    let Some(epoch) = job
        .cmd
        .env
        .iter()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
        .and_then(|(_, v)| v.parse::<u32>().ok())
    else {
        return Vec::new();
    };
    job.outputs
        .iter()
        .filter(|o| {
            binfmt::head(o)
                .ok()
                .and_then(|b| binfmt::pe_link_time(&b))
                .is_some_and(|t| t != epoch && t != 0)
        })
        .map(ToString::to_string)
        .collect()
}

/// `cargo clean` of the job's own packages (not their dependencies) for each of its
/// Windows targets, in the job's target directory.
fn relink_cleans(job: &BuildJob) -> Vec<Cmd> {
    let packages: Vec<&str> = job
        .cmd
        .args
        .windows(2)
        .filter(|w| w[0] == "--package")
        .map(|w| w[1].as_str())
        .collect();
    job.targets
        .iter()
        .filter(|t| t.os == crate::target::Os::Windows)
        .map(|t| {
            let mut args = vec!["clean", "--release", "--target", t.triple];
            for p in &packages {
                args.extend(["--package", p]);
            }
            // The target directory is this process's, as for the build.
            Cmd::new("cargo", args)
        })
        .collect()
}

/// Adds missing rustup targets.
pub fn run_setup(rep: &Reporter, plan: &Plan) -> Result<()> {
    for cmd in &plan.setup {
        rep.run("rustup", cmd, |_| None)?;
    }
    Ok(())
}

/// cross needs a running container engine; find out now rather than mid-build.
fn preflight_cross() -> Result<()> {
    let engine = std::env::var("CROSS_CONTAINER_ENGINE").unwrap_or_else(|_| "docker".to_owned());
    if !Cmd::new(&engine, ["info"]).succeeds() {
        bail!("the cross toolchain needs a running container engine, but `{engine} info` failed: start the Docker daemon (or set CROSS_CONTAINER_ENGINE=podman)");
    }
    Ok(())
}

/// Turns one of cargo's JSON messages into a per-triple status ("x86_64-apple-darwin",
/// "compiled serde_json"); build scripts and proc macros report as "host".
pub fn cargo_event(line: &str) -> Option<(String, String)> {
    if !line.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["reason"] != "compiler-artifact" {
        return None;
    }
    let name = v["target"]["name"].as_str()?;
    let file = v["filenames"][0]
        .as_str()
        .unwrap_or_default()
        .replace('\\', "/");
    let key = TARGETS
        .iter()
        .find(|t| file.contains(&format!("/{}/", t.triple)))
        .map_or("host", |t| t.triple);
    let verb = if v["executable"].is_string() {
        "built"
    } else {
        "compiled"
    };
    Some((key.to_owned(), format!("{verb} {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_sorted_and_deduplicated_all_when_none() {
        let mut o = BuildOpts {
            platforms: vec![
                ImagePlatform::ALL[1],
                ImagePlatform::ALL[0],
                ImagePlatform::ALL[1],
            ],
            toolchains: vec!["auto".into()],
            metadata: None,
            dry_run: false,
            offline: false,
            verbose: false,
        };
        assert_eq!(
            BuildOptions::from(&o).platforms,
            ImagePlatform::ALL.to_vec()
        );
        o.platforms.clear();
        assert_eq!(
            BuildOptions::from(&o).platforms,
            ImagePlatform::ALL.to_vec()
        );
    }

    #[test]
    fn cargo_events() {
        let lib = r#"{"reason":"compiler-artifact","target":{"name":"serde_json"},"filenames":["/w/target/aarch64-apple-darwin/release/deps/libserde_json-1.rlib"],"executable":null}"#;
        assert_eq!(
            cargo_event(lib),
            Some(("aarch64-apple-darwin".into(), "compiled serde_json".into()))
        );
        let exe = r#"{"reason":"compiler-artifact","target":{"name":"host-bin"},"filenames":["C:\\w\\target\\x86_64-pc-windows-gnu\\release\\host-bin.exe"],"executable":"x"}"#;
        assert_eq!(
            cargo_event(exe),
            Some(("x86_64-pc-windows-gnu".into(), "built host-bin".into()))
        );
        let host = r#"{"reason":"compiler-artifact","target":{"name":"build-script-build"},"filenames":["/w/target/release/build/x/build-script-build"],"executable":null}"#;
        assert_eq!(cargo_event(host).unwrap().0, "host");
        assert_eq!(
            cargo_event(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(cargo_event("   Compiling serde v1.0.0"), None);
    }
}
