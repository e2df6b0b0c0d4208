//! `cargo xtask dist`: stage, build the multi-platform image, verify it, and only then
//! give it the release tag (in the registry with `--push`, else in the local store).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;
use xshell::Shell;

use crate::docker::{self, Builder, Output, Strategy};
use crate::doctor::{self, Item};
use crate::flags::DistCmd;
use crate::paths;
use crate::plan::CmdSpec;
use crate::progress::Reporter;
use crate::publish::Record;
use crate::reference::{check_release_tag, ImageRef};
use crate::stage::{self, CHECKSUMS};
use crate::target::Platform;
use crate::verify::{self, Verified};
use crate::{build, verify::check_variant};
use crate::{codegen, publish};

impl DistCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let rep = Reporter::new(self.opts.verbose);
        // Everything that can be wrong is found before anything is compiled.
        let prepared = build::prepare(sh, &rep, &self.opts, &[])?;
        let image = self
            .image
            .clone()
            .or_else(|| prepared.ws.image.clone())
            .context(
            "no image name: pass --image or set [workspace.metadata.extension] image in Cargo.toml",
        )?;
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| prepared.ws.version.clone());
        check_release_tag(&tag).with_context(|| match self.tag {
            Some(_) => "--tag".to_owned(),
            None => "the workspace version in Cargo.toml (the default tag)".to_owned(),
        })?;
        let base = ImageRef::parse(&image).with_context(|| match self.image {
            Some(_) => "--image (or XTASK_IMAGE)".to_owned(),
            None => "[workspace.metadata.extension] image in Cargo.toml".to_owned(),
        })?;
        if base.tag.is_some() || base.digest.is_some() {
            bail!("--image `{image}`: give the repository only; the tag comes from --tag");
        }
        let platforms = self.opts.platforms();
        // One platform of a release built on its own (one CI runner per platform) is
        // published as TAG-ARCH, for `cargo xtask merge` to combine.
        let release = match (self.push, platforms.as_slice()) {
            (true, [one]) => base.with_tag(&format!("{tag}-{}", one.0.docker())),
            _ => base.with_tag(&tag),
        };
        codegen::check_fresh()?;
        if self.opts.dry_run {
            print!("{}", prepared.plan);
            print_image_plan(self.builder.as_deref(), &release, &platforms, self.push);
            return Ok(());
        }
        let _lock = paths::lock_dist()?;
        let mut needs = vec![Item::Docker, Item::Buildx, Item::Disk];
        if !prepared.plan.ui.is_empty() {
            needs.push(Item::Node);
        }
        doctor::require(sh, &needs, &doctor::Context::default())?;
        let builder = Builder::detect(sh, self.builder.as_deref())?;
        let (strategy, why) = Strategy::choose(&builder);
        rep.println(format!("image strategy: {strategy} ({why})"));
        let existing = match self.push {
            true => publish::check_tag(&rep, self.builder.as_deref(), &release, self.force)?,
            false => None,
        };

        stage::run(sh, &rep, &prepared)?;
        // What the image is made of: the staged tree and the Dockerfile (its labels).
        let dockerfile = std::fs::read(paths::dockerfile())
            .with_context(|| format!("cannot read {}", paths::dockerfile()))?;
        let staged = format!(
            "{}-{}",
            stage::tree_digest(&paths::stage_dir())?,
            stage::sha256_bytes_hex(&dockerfile)
        );
        let d = Dist {
            rep: &rep,
            builder: self.builder.as_deref(),
            strategy,
            base: &base,
            tag: &tag,
        };
        let unchanged = |r: &Record| r.stage == staged;
        let verified = match (self.push, Record::load(&release)) {
            // --force onto a tag that already holds exactly this build, verified when this
            // checkout published it: content addressing leaves nothing to push or check.
            (true, Some(r))
                if unchanged(&r) && existing.as_deref() == Some(r.index_digest.as_str()) =>
            {
                rep.println(format!(
                    "{release} already holds this exact build (index {}): nothing to replace",
                    r.index_digest
                ));
                r.verified()
            }
            (true, _) => d.publish(&release, &platforms, existing.as_deref())?,
            (false, Some(r)) if unchanged(&r) && d.local_image_is(&release, &r) => {
                rep.println(format!(
                    "{release} in the local store is already this exact build"
                ));
                r.verified()
            }
            (false, _) => d.load_locally(&platforms)?,
        };
        Record::save(&release, &staged, &verified)?;

        let summary = summary(&release, &verified, &platforms, self.push)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            if self.push {
                eprintln!("{release}: verified index {}", verified.index_digest);
            } else {
                eprintln!("{release}: every variant verified");
            }
            for (p, digest) in &verified.platforms {
                eprintln!("  {p}: {digest}");
            }
            if self.push {
                eprintln!(
                    "published {release}; install it with: docker extension install {release}"
                );
            } else {
                eprintln!("loaded {release} into the local image store; install it with: docker extension install {release}");
            }
        }
        Ok(())
    }
}

/// `docker buildx build` of the extension's Dockerfile over the staged trees.
fn image_build(
    builder: Option<&str>,
    platforms: &[Platform],
    output: Output,
    metadata: Option<&Utf8Path>,
) -> CmdSpec {
    docker::build(
        builder,
        &paths::dockerfile(),
        &paths::stage_dir(),
        platforms,
        output,
        metadata,
    )
}

/// The image steps `dist` would run. The builder decides between one multi-platform
/// build and one build per platform, so both forms are shown.
fn print_image_plan(builder: Option<&str>, release: &ImageRef, platforms: &[Platform], push: bool) {
    println!(
        "image ({}):",
        if push {
            "pushed, verified, then tagged"
        } else {
            "loaded locally after verification"
        }
    );
    println!("  {}", docker::prune_context_cache(builder));
    if push {
        let candidate = publish::candidate(release);
        println!("  with a multi-platform builder:");
        let multi = image_build(builder, platforms, Output::Push(&candidate), None);
        println!("    {multi}");
        println!(
            "  with the docker driver's classic store, one build per platform, then the index:"
        );
        for p in platforms {
            let r = publish::platform_candidate(release, *p);
            println!(
                "    {}",
                image_build(builder, &[*p], Output::Push(&r), None)
            );
        }
        println!(
            "    docker buildx imagetools create --tag {candidate} <the per-platform digests>"
        );
        println!("  verify {candidate} by digest (exports each variant with buildx), then:");
        println!(
            "  docker buildx imagetools create --tag {release} {}@<verified digest>",
            release.repo
        );
    } else {
        for p in platforms {
            let local = publish::platform_candidate(release, *p);
            println!(
                "  {}",
                image_build(builder, &[*p], Output::Load(&local), None)
            );
        }
        println!("  verify each variant, then: docker tag <this machine's variant> {release}");
    }
}

struct Dist<'a> {
    rep: &'a Reporter,
    builder: Option<&'a str>,
    strategy: Strategy,
    base: &'a ImageRef,
    tag: &'a str,
}

impl Dist<'_> {
    fn forget_cached_context(&self) -> Result<()> {
        self.rep.run(
            "context cache",
            &docker::prune_context_cache(self.builder),
            |_| None,
        )?;
        Ok(())
    }

    fn work_dir(&self) -> Result<Utf8PathBuf> {
        let dir = paths::dist_dir().join("image");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        Ok(dir)
    }

    /// A local tag a person can tell is not a release: `unverified-TAG-ARCH`.
    fn local_candidate(&self, p: Platform) -> ImageRef {
        publish::platform_candidate(&self.base.with_tag(self.tag), p)
    }

    fn build(
        &self,
        platforms: &[Platform],
        output: Output,
        metadata: Option<&Utf8Path>,
    ) -> CmdSpec {
        image_build(self.builder, platforms, output, metadata)
    }

    /// Pushes a candidate index of `platforms` and promotes it to `release` once verified.
    /// With one platform (a CI runner's share of a release) the index holds just that
    /// platform, for `cargo xtask merge` to combine.
    fn publish(
        &self,
        release: &ImageRef,
        platforms: &[Platform],
        previous: Option<&str>,
    ) -> Result<Verified> {
        let work = self.work_dir()?;
        self.forget_cached_context()?;
        let candidate = publish::candidate(release);
        if self.strategy == Strategy::MultiPlatform && platforms.len() > 1 {
            let md = work.join("multi.json");
            let cmd = self.build(platforms, Output::Push(&candidate), Some(&md));
            self.rep.run("image", &cmd, |_| None)?;
        } else {
            // One build per platform, side by side; the index lists them in platform order.
            let built: Vec<Result<ImageRef>> = std::thread::scope(|s| {
                let work = &work;
                let handles: Vec<_> = platforms
                    .iter()
                    .map(|&p| {
                        s.spawn(move || {
                            let md = work.join(format!("{}.json", p.stage_name()));
                            let _ = std::fs::remove_file(&md);
                            let r = publish::platform_candidate(release, p);
                            let cmd = self.build(&[p], Output::Push(&r), Some(&md));
                            self.rep.run(&format!("image {p}"), &cmd, |_| None)?;
                            Ok(self.base.with_digest(&docker::metadata_digest(&md)?))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("image thread panicked"))
                    .collect()
            });
            let manifests = built.into_iter().collect::<Result<Vec<_>>>()?;
            let merge = docker::imagetools_create(self.builder, &candidate, &manifests);
            self.rep.run("index", &merge, |_| None)?;
        }
        publish::promote(
            self.rep,
            self.builder,
            &candidate,
            release,
            Some(&paths::stage_dir()),
            platforms,
            previous,
        )
    }

    /// The local `release` is the image `record` describes (this machine's variant).
    fn local_image_is(&self, release: &ImageRef, record: &Record) -> bool {
        let id = CmdSpec::new(
            "docker",
            [
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                &release.to_string(),
            ],
        )
        .to_duct()
        .stderr_null()
        .read();
        let host = verify::host_platform().map(|p| p.to_string());
        matches!((id, host), (Ok(id), Some(h)) if record.platforms.get(&h) == Some(&id.trim().to_owned()))
    }

    /// Loads each variant under a candidate tag, verifies it, and tags this machine's
    /// variant as the release locally.
    fn load_locally(&self, platforms: &[Platform]) -> Result<Verified> {
        let work = self.work_dir()?;
        self.forget_cached_context()?;
        let mut problems = Vec::new();
        let mut digests = BTreeMap::new();
        for &p in platforms {
            let candidate = self.local_candidate(p);
            self.rep.run(
                &format!("image {p}"),
                &self.build(&[p], Output::Load(&candidate), None),
                |_| None,
            )?;
            let fs = work.join(p.stage_name());
            if fs.exists() {
                std::fs::remove_dir_all(&fs).with_context(|| format!("cannot clear {fs}"))?;
            }
            self.rep.run(
                &format!("export {p}"),
                &self.build(&[p], Output::Local(&fs), None),
                |_| None,
            )?;
            let inspect = CmdSpec::new("docker", ["image", "inspect", &candidate.to_string()]);
            let out = inspect
                .to_duct()
                .stderr_to_stdout()
                .read()
                .with_context(|| format!("`{inspect}` failed"))?;
            let config: serde_json::Value = serde_json::from_str(&out)
                .with_context(|| format!("`{inspect}` printed no JSON"))?;
            let sums = paths::stage_dir().join(p.stage_name()).join(CHECKSUMS);
            problems.extend(check_variant(p, &config[0], &fs, Some(&sums)));
            digests.insert(p, config[0]["Id"].as_str().unwrap_or_default().to_owned());
        }
        if !problems.is_empty() {
            bail!(
                "the built image failed verification, {} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        let release = self.base.with_tag(self.tag);
        match verify::host_platform().filter(|p| platforms.contains(p)) {
            Some(host) => {
                let tag = CmdSpec::new(
                    "docker",
                    [
                        "tag",
                        &self.local_candidate(host).to_string(),
                        &release.to_string(),
                    ],
                );
                self.rep.run("tag", &tag, |_| None)?;
            }
            None => self.rep.println(format!(
                "no variant for this machine's CPU was built: {release} not tagged locally"
            )),
        }
        for &p in platforms {
            let untag = CmdSpec::new(
                "docker",
                ["image", "rm", &self.local_candidate(p).to_string()],
            );
            self.rep.run("untag", &untag, |_| None)?;
        }
        Ok(Verified {
            index_digest: String::new(),
            platforms: digests,
        })
    }
}

fn summary(
    release: &ImageRef,
    v: &Verified,
    platforms: &[Platform],
    pushed: bool,
) -> Result<serde_json::Value> {
    let mut checksums = serde_json::Map::new();
    for p in platforms {
        let file = paths::stage_dir().join(p.stage_name()).join(CHECKSUMS);
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
        let sums: serde_json::Map<String, serde_json::Value> = text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(h, path)| (path.to_owned(), json!(h)))
            .collect();
        checksums.insert(p.to_string(), sums.into());
    }
    Ok(json!({
        "image": release.repo,
        "tag": release.tag,
        "reference": release.to_string(),
        "pushed": pushed,
        "index_digest": if pushed { json!(v.index_digest) } else { json!(null) },
        "platforms": v.platforms.iter().map(|(p, d)| (p.to_string(), json!(d))).collect::<serde_json::Map<_, _>>(),
        "checksums": checksums,
    }))
}
