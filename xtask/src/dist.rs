//! `cargo xtask dist`: stage, build the multi-platform image, verify it, and only then
//! give it the release tag (in the registry with `--push`, else in the local store).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::build::{self, BuildOptions, Prepared};
use crate::cmd::Cmd;
use crate::digest::{self, CHECKSUMS};
use crate::docker::{Attest, Builder, Strategy};
use crate::doctor::{self, Item};
use crate::flags::DistCmd;
use crate::image::{self, ImagePlan, Job, LocalVariant, Step};
use crate::plan::{PlatformStage, Source};
use crate::probe;
use crate::progress::Reporter;
use crate::publish::{self, Record};
use crate::reference::ImageRef;
use crate::smoke::{self, Smoked};
use crate::target::ImagePlatform;
use crate::verify::{self, check_variant, Rules, Verified};
use crate::{codegen, paths, stage};

/// What `dist` is asked to do: the flags, read once.
#[derive(Debug, Clone)]
pub struct DistOptions {
    pub build: BuildOptions,
    pub push: bool,
    /// `--image`: the repository, else Cargo.toml's (see `Workspace::release`).
    pub image: Option<String>,
    /// `--tag`, else the workspace version.
    pub tag: Option<String>,
    pub force: bool,
    pub json: bool,
    pub builder: Option<String>,
    pub provenance: bool,
    /// `Some(generator)` for an SBOM.
    pub sbom: Option<String>,
}

impl Default for DistOptions {
    fn default() -> DistOptions {
        DistOptions {
            build: BuildOptions::default(),
            push: false,
            image: None,
            tag: None,
            force: false,
            json: false,
            builder: None,
            provenance: true,
            sbom: None,
        }
    }
}

/// BuildKit's own SBOM scanner, what `docker buildx build --sbom=true` runs.
pub const DEFAULT_SBOM_GENERATOR: &str = "docker/buildkit-syft-scanner";

impl DistCmd {
    pub fn run(self) -> Result<()> {
        run(&DistOptions {
            build: BuildOptions::from(&self.opts),
            push: self.push,
            image: self.image,
            tag: self.tag,
            force: self.force,
            json: self.json,
            builder: self.builder,
            provenance: !self.no_provenance,
            sbom: self.sbom.then(|| {
                self.sbom_generator
                    .unwrap_or_else(|| DEFAULT_SBOM_GENERATOR.to_owned())
            }),
        })
    }
}

pub fn run(opts: &DistOptions) -> Result<()> {
    let rep = Reporter::new(opts.build.verbose);
    let builder = opts.builder.as_deref();
    // Everything that can be wrong is found before anything is compiled. The builder and
    // the prerequisites (docker, buildx, node, disk) are asked while the plan is made:
    // independent programs, which one after another were most of a no-change run.
    let (prepared, (checks, detected)) = std::thread::scope(|s| {
        let asked = s.spawn(|| {
            let checks = (!opts.build.dry_run)
                .then(|| doctor::check_all(&PREREQUISITES, &doctor::Context::default()));
            (checks, Builder::detect(builder))
        });
        let prepared = build::prepare(&rep, &opts.build);
        (
            prepared,
            asked.join().expect("the prerequisite checks panicked"),
        )
    });
    let prepared = prepared?;
    let release = release(opts, &prepared)?;
    codegen::check_fresh(prepared.service_command().as_deref())?;
    if opts.build.dry_run {
        print!("{}", prepared.plan);
        print!("{}", image_plan(opts, &prepared, &release, detected, true)?);
        return Ok(());
    }
    let _lock = paths::lock_dist()?;
    preflight(&prepared, checks.unwrap_or_default())?;
    if probe::Service::of(&prepared).is_some() {
        probe::require_tools()?;
    }
    let plan = image_plan(opts, &prepared, &release, detected, false)?;
    rep.println(format!("image strategy: {} ({})", plan.strategy, plan.why));
    if !plan.recipe.reproducible {
        // Said once, before the build: nothing later claims what this builder cannot give.
        rep.println(&plan.recipe.reproducible_note);
    }
    let previous = match opts.push {
        true => publish::check_tag(&rep, builder, &release, opts.force)?,
        false => None,
    };

    stage::run(&rep, &prepared)?;

    let staged = staged_digest()?;
    let smoked = smoke_run(&rep, &prepared, &staged)?;
    let service = probe::Service::of(&prepared);
    let probed_record = paths::dist_dir().join("probe").join(format!(
        "passed-{}.json",
        &digest::sha256_bytes_hex(staged.as_bytes())[..16]
    ));
    let mut probed = Vec::new();
    let verified = match unchanged(opts, &release, &staged, previous.as_deref()) {
        Some(v) => {
            rep.println(format!("{release} already holds this exact build"));
            if service.is_some() {
                rep.println("probe: skipped, the VM service of this exact build passed before");
                let earlier = std::fs::read_to_string(&probed_record).ok();
                probed = earlier
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
            }
            v
        }
        None => execute(
            &rep,
            builder,
            &plan,
            previous.as_deref(),
            &Rules {
                floors: prepared.ws.floors,
                built_for: prepared.built_for.clone(),
            },
            service.as_ref(),
            &mut probed,
        )?,
    };
    if service.is_some() {
        std::fs::create_dir_all(paths::dist_dir().join("probe"))?;
        std::fs::write(&probed_record, serde_json::to_string(&probed)?)
            .with_context(|| format!("cannot write {probed_record}"))?;
    }
    Record::save(&release, &staged, &verified)?;
    report(
        opts,
        &release,
        &verified,
        &smoked,
        &vendored_summary(&prepared),
        &serde_json::Value::from(probed),
        plan.recipe.reproducible,
    )
}

/// What each variant ships from vendor.toml: path -> name, version, URL, sha256, and the
/// build's platform (another one's under a declared fallback).
fn vendored_summary(prepared: &Prepared) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for stage in &prepared.plan.stages {
        let entries: serde_json::Map<String, serde_json::Value> = stage
            .entries
            .iter()
            .filter_map(|(dest, src)| match src {
                Source::Vendored(a) => Some((
                    dest.clone(),
                    json!({
                        "name": a.name,
                        "version": a.version,
                        "url": a.upstream.url,
                        "sha256": a.sha256,
                        "built_for": a.upstream.built_for.to_string(),
                    }),
                )),
                _ => None,
            })
            .collect();
        if !entries.is_empty() {
            out.insert(stage.platform.to_string(), entries.into());
        }
    }
    out.into()
}

/// Runs every staged binary this machine can (natively, qemu-user, wine) with its smoke
/// arguments, before any image is built; fails if one does not pass. The same staged tree,
/// smoke arguments and emulators as a run that passed are not run again.
fn smoke_run(rep: &Reporter, prepared: &Prepared, staged: &str) -> Result<serde_json::Value> {
    let tools = smoke::Tools::detect();
    let options = smoke::Options {
        // The wine prefix takes seconds to create: one per user, not per target dir.
        cache_dir: paths::user_cache("xtask-smoke", "XTASK_SMOKE_CACHE")?,
        timeout: smoke::DEFAULT_TIMEOUT,
    };
    let plans: Vec<(ImagePlatform, Vec<smoke::Case>, Vec<Smoked>)> = prepared
        .plan
        .stages
        .iter()
        .map(|stage| {
            let (cases, unconfigured) = smoke_cases(prepared, stage);
            (stage.platform, cases, unconfigured)
        })
        .collect();
    let dir = paths::dist_dir().join("smoke");
    let inputs = format!("{staged}{plans:?}{tools:?}{:?}", options.timeout);
    let record = dir.join(format!(
        "passed-{}.json",
        &digest::sha256_bytes_hex(inputs.as_bytes())[..16]
    ));
    if let Ok(text) = std::fs::read_to_string(&record) {
        if let Ok(results) = serde_json::from_str(&text) {
            rep.println("smoke: skipped, this staged tree passed before with the same arguments and emulators");
            return Ok(results);
        }
    }
    let mut results = serde_json::Map::new();
    let mut failed = Vec::new();
    for (p, cases, unconfigured) in plans {
        let root = paths::stage_dir().join(p.stage_name());
        let mut ran = smoke::run_all(&root, &cases, &tools, &options);
        ran.extend(unconfigured);
        for s in &ran {
            rep.println(format!("smoke {p}: {s}"));
            if matches!(s.outcome, smoke::Outcome::Failed { .. }) {
                failed.push(format!("{p}: {s}"));
            }
        }
        results.insert(p.to_string(), ran.iter().map(Smoked::to_json).collect());
    }
    if !failed.is_empty() {
        bail!(
            "{} staged binary(ies) failed their smoke run; nothing was built or published:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    let results = serde_json::Value::Object(results);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    std::fs::write(&record, serde_json::to_string(&results)?)
        .with_context(|| format!("cannot write {record}"))?;
    Ok(results)
}

/// One variant's smoke cases, and the binaries that have no smoke arguments (not run).
fn smoke_cases(prepared: &Prepared, stage: &PlatformStage) -> (Vec<smoke::Case>, Vec<Smoked>) {
    let p = stage.platform;
    let mut cases = Vec::new();
    let mut unconfigured = Vec::new();
    for b in &prepared.ext.binaries {
        let (configured, where_, arch) = match stage.entries.get(&b.path) {
            Some(Source::Vendored(a)) => (
                a.smoke
                    .as_ref()
                    .map(|s| (s.args.clone(), s.expect.clone().unwrap_or_default())),
                format!("`smoke` in [{}] of vendor.toml", b.bin),
                // Under a declared fallback the build is another CPU's.
                a.upstream.built_for.arch,
            ),
            _ => (
                prepared.ws.smoke.get(&b.bin).cloned(),
                format!(
                    "[workspace.metadata.extension.smoke.{}] to Cargo.toml",
                    b.bin
                ),
                p.0,
            ),
        };
        match configured {
            Some((args, expect)) => cases.push(smoke::Case {
                path: b.path.clone().into(),
                os: b.os,
                cpu: arch.cpu(),
                args,
                expect,
            }),
            None => unconfigured.push(Smoked {
                path: b.path.clone().into(),
                outcome: smoke::Outcome::NotRun {
                    reason: format!("no smoke arguments for `{}`: add {where_}", b.bin),
                },
            }),
        }
    }
    (cases, unconfigured)
}

/// `IMAGE:TAG`, or `IMAGE:TAG-ARCH` for one platform of a release built on its own (one
/// CI runner per platform), which `cargo xtask merge` combines.
fn release(opts: &DistOptions, prepared: &Prepared) -> Result<ImageRef> {
    let release = prepared
        .ws
        .release(opts.image.as_deref(), opts.tag.as_deref())?;
    Ok(match (opts.push, opts.build.platforms.as_slice()) {
        (true, [one]) => release.with_tag(&format!(
            "{}-{}",
            release.tag.as_deref().unwrap_or_default(),
            one.0.docker()
        )),
        _ => release,
    })
}

/// What a real run needs before it starts; Node.js only when there is a UI to build.
const PREREQUISITES: [Item; 4] = [Item::Docker, Item::Buildx, Item::Disk, Item::Node];

fn preflight(prepared: &Prepared, checks: Vec<doctor::Check>) -> Result<()> {
    let needs_node = !prepared.plan.ui.is_empty();
    doctor::require_passed(
        checks
            .into_iter()
            .filter(|c| needs_node || c.name != doctor::NODE)
            .collect(),
    )
}

/// The image steps for the builder this run will use. Without a reachable builder a dry
/// run (on a machine without Docker) shows the per-platform steps and says why; a real
/// run stops.
fn image_plan(
    opts: &DistOptions,
    prepared: &Prepared,
    release: &ImageRef,
    detected: Result<Builder>,
    dry_run: bool,
) -> Result<ImagePlan> {
    let builder = opts.builder.as_deref();
    if !dry_run {
        // A real run builds with this builder: not knowing it is an error, not a guess.
        detected.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    }
    let strategy = match &detected {
        Ok(b) => Strategy::choose(b),
        Err(e) => (
            Strategy::PerPlatform,
            format!(
                "no builder to ask ({e:#}): the per-platform steps, which every builder can run"
            ),
        ),
    };
    let source_date_epoch = prepared
        .epoch
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (reproducible, reproducible_note) = match &detected {
        Ok(b) => match b.why_not_message() {
            None => (
                true,
                format!(
                    "builder `{}` has {}, which applies it to the image config and history",
                    b.name, b.reproducibility.found
                ),
            ),
            Some(why) => (false, why),
        },
        Err(_) => (false, "not known: no builder to ask".to_owned()),
    };
    // Attestations need a builder that makes an index per build (see `Builder`).
    let attest = match &detected {
        Ok(b) if b.multi_platform => Some(Attest {
            provenance: opts.provenance,
            sbom: opts.sbom.clone(),
        }),
        Ok(b) if opts.sbom.is_some() => bail!(
            "--sbom: builder `{}` (driver {}, classic image store) cannot attach attestations; \
             use a docker-container builder (`docker buildx create --use`) or the containerd image store",
            b.name,
            b.driver
        ),
        _ => None,
    };
    let recipe = image::Recipe {
        attest,
        source_date_epoch,
        reproducible,
        reproducible_note,
    };
    Ok(image::plan(
        builder,
        strategy,
        recipe,
        release,
        &opts.build.platforms,
        opts.push,
        probe::Service::of(prepared).is_some(),
    ))
}

/// What the image is made of: the staged tree and the Dockerfile (its labels).
fn staged_digest() -> Result<String> {
    let dockerfile = paths::dockerfile();
    let bytes = std::fs::read(&dockerfile).with_context(|| format!("cannot read {dockerfile}"))?;
    Ok(format!(
        "{}-{}",
        digest::tree_digest(&paths::stage_dir())?,
        digest::sha256_bytes_hex(&bytes)
    ))
}

/// The verified result of an earlier run when it is exactly this build and still in
/// place: content addressing leaves nothing to build, push or check.
fn unchanged(
    opts: &DistOptions,
    release: &ImageRef,
    staged: &str,
    previous: Option<&str>,
) -> Option<Verified> {
    let r = Record::load(release).filter(|r| r.stage == staged)?;
    let in_place = match opts.push {
        // --force onto a tag that already holds this build, verified when this checkout
        // published it.
        true => previous == Some(r.index_digest.as_str()),
        false => local_image_is(release, &r),
    };
    in_place.then(|| r.verified())
}

/// The local `release` is the image `record` describes (this machine's variant).
fn local_image_is(release: &ImageRef, record: &Record) -> bool {
    let id = Cmd::new(
        "docker",
        [
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &release.to_string(),
        ],
    )
    .read();
    let host = verify::host_platform().map(|p| p.to_string());
    matches!((id, host), (Ok(id), Some(h)) if record.platforms.get(&h) == Some(&id))
}

/// Runs the image plan, step by step; jobs of one step run side by side.
fn execute(
    rep: &Reporter,
    builder: Option<&str>,
    plan: &ImagePlan,
    previous: Option<&str>,
    rules: &Rules,
    service: Option<&probe::Service>,
    probed: &mut Vec<serde_json::Value>,
) -> Result<Verified> {
    let work = image::work_dir();
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {work}"))?;
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    let mut verified: Option<Verified> = None;
    for step in &plan.steps {
        match step {
            Step::Run(jobs) => known.extend(run_jobs(rep, jobs, &known)?),
            Step::VerifyRemote {
                candidate,
                platforms,
            } => {
                let stage = paths::stage_dir();
                let v = publish::verify_candidate(
                    rep,
                    builder,
                    candidate,
                    Some(&stage),
                    platforms,
                    rules,
                )?;
                known.insert(image::VERIFIED.to_owned(), v.index_digest.clone());
                verified = Some(v);
            }
            Step::VerifyLocal(variants) => verified = Some(verify_local(rep, variants, rules)?),
            Step::Probe(variants) => probe::run_all(rep, variants, service, probed)?,
            Step::ConfirmTag { release } => {
                let digest = known
                    .get(image::VERIFIED)
                    .context("the image plan tags before it verifies")?;
                publish::confirm_tag(rep, builder, release, digest, previous)?;
            }
        }
    }
    if !plan.push && !plan.steps.iter().any(is_local_tag) {
        rep.println(format!(
            "no variant for this machine's CPU was built: {} not tagged locally",
            plan.release
        ));
    }
    verified.context("the image plan verifies nothing")
}

fn is_local_tag(step: &Step) -> bool {
    matches!(step, Step::Run(jobs) if jobs.iter().any(|j| j.name == "tag"))
}

/// Runs `jobs` side by side with the placeholders known so far filled in; returns the
/// digests they recorded.
fn run_jobs(
    rep: &Reporter,
    jobs: &[Job],
    known: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let results: Vec<Result<Option<(String, String)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|j| s.spawn(move || run_job(rep, j, known)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("image thread panicked"))
            .collect()
    });
    let mut recorded = BTreeMap::new();
    for r in results {
        recorded.extend(r?);
    }
    Ok(recorded)
}

fn run_job(
    rep: &Reporter,
    job: &Job,
    known: &BTreeMap<String, String>,
) -> Result<Option<(String, String)>> {
    if let Some(dir) = &job.clears {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {dir}"))?;
        }
    }
    if let Some((md, _)) = &job.records {
        // A metadata file left by an earlier run must not pass for this build's.
        let _ = std::fs::remove_file(md);
    }
    rep.run(&job.name, &image::fill(&job.cmd, known), |_| None)?;
    match &job.records {
        Some((md, key)) => Ok(Some((key.clone(), crate::docker::metadata_digest(md)?))),
        None => Ok(None),
    }
}

/// Checks each locally loaded variant's config and exported tree.
fn verify_local(rep: &Reporter, variants: &[LocalVariant], rules: &Rules) -> Result<Verified> {
    let mut problems = Vec::new();
    let mut digests = BTreeMap::new();
    for v in variants {
        rep.println(format!("verify {}: {}", v.platform, v.inspect));
        let out = v.inspect.read()?;
        let config: serde_json::Value = serde_json::from_str(&out)
            .with_context(|| format!("`{}` printed no JSON", v.inspect))?;
        let sums = paths::stage_dir()
            .join(v.platform.stage_name())
            .join(CHECKSUMS);
        problems.extend(check_variant(
            v.platform,
            &config[0],
            &v.fs,
            Some(&sums),
            rules,
        ));
        let id = config[0]["Id"].as_str().unwrap_or_default().to_owned();
        digests.insert(v.platform, id);
    }
    if !problems.is_empty() {
        bail!(
            "the built image failed verification, {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(Verified {
        index_digest: String::new(),
        platforms: digests,
        attestations: BTreeMap::new(),
    })
}

fn report(
    opts: &DistOptions,
    release: &ImageRef,
    v: &Verified,
    smoked: &serde_json::Value,
    vendored: &serde_json::Value,
    probed: &serde_json::Value,
    reproducible: bool,
) -> Result<()> {
    if opts.json {
        let mut summary = summary(release, v, &opts.build.platforms, opts.push)?;
        // Whether another clean build of this commit gets these per-platform digests.
        summary["reproducible"] = json!(reproducible);
        summary["smoke"] = smoked.clone();
        summary["service"] = probed.clone();
        summary["vendored"] = vendored.clone();
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if opts.push {
        eprintln!("{release}: verified index {}", v.index_digest);
    } else {
        eprintln!("{release}: every variant verified");
    }
    for (p, digest) in &v.platforms {
        eprintln!("  {p}: {digest}{}", verify::attested_note(v, *p));
    }
    if opts.push {
        eprintln!("published {release}; install it with: docker extension install {release}");
    } else {
        eprintln!("loaded {release} into the local image store; install it with: docker extension install {release}");
    }
    Ok(())
}

fn summary(
    release: &ImageRef,
    v: &Verified,
    platforms: &[ImagePlatform],
    pushed: bool,
) -> Result<serde_json::Value> {
    let mut checksums = serde_json::Map::new();
    for p in platforms {
        let file = paths::stage_dir().join(p.stage_name()).join(CHECKSUMS);
        let sums = digest::read_sums(&file).with_context(|| format!("cannot read {file}"))?;
        let sums: serde_json::Map<String, serde_json::Value> =
            sums.into_iter().map(|(path, h)| (path, json!(h))).collect();
        checksums.insert(p.to_string(), sums.into());
    }
    Ok(json!({
        "image": release.repo,
        "tag": release.tag,
        "reference": release.to_string(),
        "pushed": pushed,
        "index_digest": if pushed { json!(v.index_digest) } else { json!(null) },
        "platforms": v.platforms.iter().map(|(p, d)| (p.to_string(), json!(d))).collect::<serde_json::Map<_, _>>(),
        "attestations": v.attestations.iter().map(|(p, t)| (p.to_string(), json!(t))).collect::<serde_json::Map<_, _>>(),
        "checksums": checksums,
    }))
}
