//! The image half of `dist`, as data: every docker command a run executes, in order, with
//! the values only the run can know (digests) as named placeholders. `dist` executes this
//! value and `dist --dry-run` prints it, so the two cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};

use crate::cmd::Cmd;
use crate::docker::{self, Attest, Output, Strategy};
use crate::paths;
use crate::probe;
use crate::publish;
use crate::reference::ImageRef;
use crate::target::ImagePlatform;

/// Placeholder for the digest the registry gives the verified candidate index.
pub const VERIFIED: &str = "<verified digest>";

/// Placeholder for the digest a per-platform build pushed.
pub fn pushed(p: ImagePlatform) -> String {
    format!("<digest of {p}>")
}

/// What every image build of a run is given besides its platforms and output, and what
/// the builder makes of it.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// What the builds attach; `None` where the builder cannot attach attestations.
    pub attest: Option<Attest>,
    /// `workspace::source_date_epoch`: the staged files' mtimes, and (on a builder that
    /// honours it) the image config's and history's times.
    pub source_date_epoch: u64,
    /// Whether this builder's digests are reproducible (`reproducible::Reproducibility`).
    pub reproducible: bool,
    /// What that was judged from, or why not: printed with the plan, and once by a run
    /// that cannot reproduce.
    pub reproducible_note: String,
}

#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub strategy: Strategy,
    /// Why the strategy was chosen, for the log.
    pub why: String,
    pub recipe: Recipe,
    pub release: ImageRef,
    pub push: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub enum Step {
    /// Commands run side by side.
    Run(Vec<Job>),
    /// Verify `candidate` from its registry, by the digest its tag resolves to: every
    /// variant's config and exported file system, against the staged checksums.
    VerifyRemote {
        candidate: ImageRef,
        platforms: Vec<ImagePlatform>,
    },
    /// Verify the locally loaded variants: each one's `docker image inspect` and its
    /// exported file system, against the staged checksums.
    VerifyLocal(Vec<LocalVariant>),
    /// Ask the registry that `release` serves the verified digest; put the previous
    /// digest back otherwise.
    ConfirmTag { release: ImageRef },
    /// Run each locally loaded variant's VM service as Docker Desktop does and ask it
    /// over its socket (see `probe`); a failure stops the run before any tag moves.
    Probe(Vec<probe::Variant>),
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub cmd: Cmd,
    /// A directory the command writes from scratch (cleared first).
    pub clears: Option<Utf8PathBuf>,
    /// The buildx metadata file holding the digest this job pushes, and the placeholder
    /// that digest fills.
    pub records: Option<(Utf8PathBuf, String)>,
}

#[derive(Debug, Clone)]
pub struct LocalVariant {
    pub platform: ImagePlatform,
    pub inspect: Cmd,
    pub fs: Utf8PathBuf,
}

fn job(name: impl Into<String>, cmd: Cmd) -> Job {
    Job {
        name: name.into(),
        cmd,
        clears: None,
        records: None,
    }
}

/// Where the image steps keep their files (metadata files, exported trees).
pub fn work_dir() -> Utf8PathBuf {
    paths::dist_dir().join("image")
}

/// `docker buildx build` of the extension's Dockerfile over the staged trees, with the
/// `SOURCE_DATE_EPOCH` they were staged with.
pub fn build(
    builder: Option<&str>,
    platforms: &[ImagePlatform],
    output: Output,
    metadata: Option<&Utf8Path>,
    source_date_epoch: u64,
) -> Cmd {
    docker::build(
        builder,
        &paths::dockerfile(),
        &paths::stage_dir(),
        platforms,
        output,
        metadata,
        Some(source_date_epoch),
    )
}

/// `cmd` (a `build`) with the attestation arguments, before its context argument.
fn attesting(mut cmd: Cmd, attest: Option<&Attest>) -> Cmd {
    if let Some(a) = attest {
        let context = cmd.args.pop();
        cmd.args.extend(a.args());
        cmd.args.extend(context);
    }
    cmd
}

/// The local tag a variant is loaded under to probe its VM service before a push.
pub fn probe_ref(release: &ImageRef, p: ImagePlatform) -> ImageRef {
    let tag = release.tag.as_deref().unwrap_or("latest");
    release.with_tag(&format!("probe-{tag}-{}", p.0.docker()))
}

/// The steps that publish `platforms` of `release` (`push`), or load and verify them
/// locally, with `strategy`. With `probe`, each variant's VM service is run from its
/// loaded image first (before anything is pushed, or before the local tag).
pub fn plan(
    builder: Option<&str>,
    (strategy, why): (Strategy, String),
    recipe: Recipe,
    release: &ImageRef,
    platforms: &[ImagePlatform],
    push: bool,
    probe: bool,
) -> ImagePlan {
    let build_cmd = |platforms: &[ImagePlatform], output: Output<'_>, md: Option<&Utf8Path>| {
        let exported = matches!(output, Output::Local(_));
        let cmd = build(builder, platforms, output, md, recipe.source_date_epoch);
        // An export is only read back, never shipped: nothing to attest.
        attesting(cmd, recipe.attest.as_ref().filter(|_| !exported))
    };
    let work = work_dir();
    // BuildKit decides whether a context file changed from its metadata alone, and
    // staging gives every file one mtime: forget cached contexts first (see
    // `docker::prune_context_cache`).
    let mut steps = vec![Step::Run(vec![job(
        "context cache",
        docker::prune_context_cache(builder),
    )])];
    if push && probe {
        // Nothing is pushed before the service has run from the very image: each variant
        // is loaded locally first (the context is cached: the push builds reuse it).
        let mut variants = Vec::new();
        for &p in platforms {
            let local = probe_ref(release, p);
            let load = build_cmd(&[p], Output::Load(&local), None);
            steps.push(Step::Run(vec![job(format!("probe image {p}"), load)]));
            variants.push(probe::Variant {
                platform: p,
                image: local.to_string(),
            });
        }
        steps.push(Step::Probe(variants));
        for &p in platforms {
            let untag = Cmd::new(
                "docker",
                ["image", "rm", &probe_ref(release, p).to_string()],
            );
            steps.push(Step::Run(vec![job("untag", untag)]));
        }
    }
    if push {
        let candidate = publish::candidate(release);
        if strategy == Strategy::MultiPlatform && platforms.len() > 1 {
            let cmd = build_cmd(platforms, Output::Push(&candidate), None);
            steps.push(Step::Run(vec![job("image", cmd)]));
        } else {
            // One build per platform, side by side; the index lists them in platform order.
            let builds = platforms
                .iter()
                .map(|&p| {
                    let md = work.join(format!("{}.json", p.stage_name()));
                    let r = publish::platform_candidate(release, p);
                    Job {
                        records: Some((md.clone(), pushed(p))),
                        ..job(
                            format!("image {p}"),
                            build_cmd(&[p], Output::Push(&r), Some(&md)),
                        )
                    }
                })
                .collect();
            steps.push(Step::Run(builds));
            let sources: Vec<ImageRef> = platforms
                .iter()
                .map(|&p| release.with_digest(&pushed(p)))
                .collect();
            let index = docker::imagetools_create(builder, &candidate, &sources);
            steps.push(Step::Run(vec![job("index", index)]));
        }
        steps.push(Step::VerifyRemote {
            candidate: candidate.clone(),
            platforms: platforms.to_vec(),
        });
        let tag = publish::tag(builder, release, VERIFIED);
        steps.push(Step::Run(vec![job("release tag", tag)]));
        steps.push(Step::ConfirmTag {
            release: release.clone(),
        });
    } else {
        let mut variants = Vec::new();
        for &p in platforms {
            let candidate = publish::platform_candidate(release, p);
            let load = build_cmd(&[p], Output::Load(&candidate), None);
            steps.push(Step::Run(vec![job(format!("image {p}"), load)]));
            let fs = work.join(p.stage_name());
            let export = build_cmd(&[p], Output::Local(&fs), None);
            steps.push(Step::Run(vec![Job {
                clears: Some(fs.clone()),
                ..job(format!("export {p}"), export)
            }]));
            variants.push(LocalVariant {
                platform: p,
                inspect: Cmd::new("docker", ["image", "inspect", &candidate.to_string()]),
                fs,
            });
        }
        let probes = variants
            .iter()
            .map(|v| probe::Variant {
                platform: v.platform,
                image: publish::platform_candidate(release, v.platform).to_string(),
            })
            .collect();
        steps.push(Step::VerifyLocal(variants));
        if probe {
            steps.push(Step::Probe(probes));
        }
        if let Some(host) = crate::verify::host_platform().filter(|p| platforms.contains(p)) {
            let tag = Cmd::new(
                "docker",
                [
                    "tag".to_owned(),
                    publish::platform_candidate(release, host).to_string(),
                    release.to_string(),
                ],
            );
            steps.push(Step::Run(vec![job("tag", tag)]));
        }
        for &p in platforms {
            let untag = Cmd::new(
                "docker",
                [
                    "image",
                    "rm",
                    &publish::platform_candidate(release, p).to_string(),
                ],
            );
            steps.push(Step::Run(vec![job("untag", untag)]));
        }
    }
    ImagePlan {
        strategy,
        why,
        recipe,
        release: release.clone(),
        push,
        steps,
    }
}

/// `cmd` with the placeholders the run has filled so far replaced.
pub fn fill(cmd: &Cmd, known: &BTreeMap<String, String>) -> Cmd {
    let mut out = cmd.clone();
    for a in &mut out.args {
        for (k, v) in known {
            if a.contains(k.as_str()) {
                *a = a.replace(k.as_str(), v);
            }
        }
    }
    out
}

impl fmt::Display for ImagePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.push {
            "pushed, verified, then tagged"
        } else {
            "loaded locally after verification"
        };
        writeln!(f, "image {} ({what}):", self.release)?;
        writeln!(f, "  strategy: {} ({})", self.strategy, self.why)?;
        match &self.recipe.attest {
            Some(a) => writeln!(f, "  attestations: {a}")?,
            None => writeln!(f, "  attestations: none (this builder cannot attach them)")?,
        }
        let r = &self.recipe;
        let yes_no = if r.reproducible { "yes" } else { "no" };
        writeln!(
            f,
            "  reproducible: {yes_no}, SOURCE_DATE_EPOCH={} ({})",
            r.source_date_epoch, r.reproducible_note
        )?;
        for step in &self.steps {
            match step {
                Step::Run(jobs) => {
                    let side = if jobs.len() > 1 { " (side by side)" } else { "" };
                    for j in jobs {
                        writeln!(f, "  [{}] {}{side}", j.name, j.cmd)?;
                    }
                }
                Step::VerifyRemote { candidate, .. } => writeln!(
                    f,
                    "  verify {candidate} by digest: every variant's config and exported file system, against the staged SHA256SUMS"
                )?,
                Step::VerifyLocal(variants) => {
                    for v in variants {
                        writeln!(
                            f,
                            "  verify {}: `{}` and {}, against the staged SHA256SUMS",
                            v.platform, v.inspect, v.fs
                        )?;
                    }
                }
                Step::ConfirmTag { release } => writeln!(
                    f,
                    "  confirm that {release} serves {VERIFIED} (else put the previous digest back)"
                )?,
                Step::Probe(variants) => {
                    for v in variants {
                        let how = probe::how(v.platform).map_or_else(|e| format!("not run: {e}"), |h| h.to_string());
                        writeln!(
                            f,
                            "  probe {}: docker run --detach --platform {} --volume <dir>:{} {} ({how}); \
                             wait for the socket, GET /health and /facts, docker stop --time {}, want exit code 0",
                            v.platform,
                            v.platform,
                            crate::codegen::GUEST_SERVICES,
                            v.image,
                            probe::TIMEOUT.as_secs()
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Shell;

    fn recipe(attest: Option<Attest>) -> Recipe {
        Recipe {
            attest,
            source_date_epoch: 1_700_000_000,
            reproducible: true,
            reproducible_note: String::new(),
        }
    }

    fn commands(p: &ImagePlan) -> Vec<String> {
        p.steps
            .iter()
            .filter_map(|s| match s {
                Step::Run(jobs) => Some(
                    jobs.iter()
                        .map(|j| j.cmd.display_in(Shell::Posix).to_string()),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn per_platform_push_builds_indexes_verifies_then_tags() {
        let release = ImageRef::parse("reg.io/ext:1.0.0").unwrap();
        let p = plan(
            None,
            (Strategy::PerPlatform, String::new()),
            recipe(None),
            &release,
            &ImagePlatform::ALL,
            true,
            false,
        );
        let cmds = commands(&p);
        assert!(cmds[0].starts_with("docker buildx prune"), "{cmds:?}");
        assert!(cmds[1].contains("--push --tag reg.io/ext:unverified-1.0.0-amd64"));
        assert!(cmds[2].contains("--push --tag reg.io/ext:unverified-1.0.0-arm64"));
        assert_eq!(
            cmds[3],
            "docker buildx imagetools create --tag reg.io/ext:unverified-1.0.0 \
             'reg.io/ext@<digest of linux/amd64>' 'reg.io/ext@<digest of linux/arm64>'"
        );
        assert_eq!(
            cmds[4],
            "docker buildx imagetools create --tag reg.io/ext:1.0.0 'reg.io/ext@<verified digest>'"
        );
        assert!(matches!(p.steps.last(), Some(Step::ConfirmTag { .. })));
        let known = [(VERIFIED.to_owned(), "sha256:ab".to_owned())].into();
        let Step::Run(tag) = &p.steps[4] else {
            panic!("{:?}", p.steps[4])
        };
        assert!(fill(&tag[0].cmd, &known)
            .display_in(Shell::Posix)
            .to_string()
            .ends_with("reg.io/ext@sha256:ab"));
    }

    /// Loads, exports and probe loads alike get the staging time, and the printed plan says
    /// what the builder makes of it.
    #[test]
    fn every_build_gets_source_date_epoch_and_the_plan_says_so() {
        let release = ImageRef::parse("reg.io/ext:1.0.0").unwrap();
        let mut r = recipe(None);
        r.reproducible = false;
        r.reproducible_note = "not reproducible: builder `default` has BuildKit v0.8".into();
        for push in [true, false] {
            let p = plan(
                None,
                (Strategy::PerPlatform, String::new()),
                r.clone(),
                &release,
                &ImagePlatform::ALL,
                push,
                true,
            );
            let builds: Vec<String> = commands(&p)
                .into_iter()
                .filter(|c| c.contains(" build "))
                .collect();
            assert!(builds.len() >= 4, "{builds:?}");
            for c in &builds {
                assert!(
                    c.contains(" --build-arg SOURCE_DATE_EPOCH=1700000000 "),
                    "{c}"
                );
            }
            let shown = p.to_string();
            assert_eq!(
                shown.matches("reproducible: no, SOURCE_DATE_EPOCH=1700000000 (not reproducible: builder `default` has BuildKit v0.8)").count(),
                1,
                "{shown}"
            );
        }
    }

    #[test]
    fn multi_platform_push_is_one_build() {
        let release = ImageRef::parse("reg.io/ext:1.0.0").unwrap();
        let p = plan(
            Some("b"),
            (Strategy::MultiPlatform, String::new()),
            recipe(Some(Attest {
                provenance: true,
                sbom: None,
            })),
            &release,
            &ImagePlatform::ALL,
            true,
            false,
        );
        let cmds = commands(&p);
        assert_eq!(cmds.len(), 3, "{cmds:?}");
        assert!(cmds[1].contains("--platform linux/amd64,linux/arm64 --progress plain --push --tag reg.io/ext:unverified-1.0.0"));
        // The build context is the stage directory (a Windows path is quoted for sh).
        let stage = crate::paths::stage_dir();
        let context = Shell::Posix.word(stage.as_str());
        assert!(
            cmds[1].ends_with(&format!("--provenance=mode=max {context}")),
            "{}",
            cmds[1]
        );
        // Every build of the staged tree gets the time it was staged with.
        for c in cmds.iter().filter(|c| c.contains(" build ")) {
            assert!(
                c.contains(" --build-arg SOURCE_DATE_EPOCH=1700000000 "),
                "{c}"
            );
        }
    }
}
