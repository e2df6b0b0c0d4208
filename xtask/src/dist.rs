//! `cargo xtask dist`: stage, build the multi-platform image, verify it, and only then
//! give it the release tag (in the registry with `--push`, else in the local store).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde_json::json;
use xshell::Shell;

use crate::docker::{self, Builder, Output, Remote, Strategy};
use crate::flags::DistCmd;
use crate::labels;
use crate::paths;
use crate::plan::CmdSpec;
use crate::progress::Reporter;
use crate::reference::{check_release_tag, ImageRef};
use crate::stage::{self, CHECKSUMS};
use crate::target::Platform;
use crate::verify::{self, Verified};
use crate::{build, verify::check_variant};

impl DistCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let rep = Reporter::new(self.opts.verbose);
        // Everything that can be wrong is found before anything is compiled.
        let prepared = build::prepare(sh, &rep, &self.opts, &[])?;
        let epoch = stage::source_date_epoch(sh)?;
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
        check_release_tag(&tag).context("--tag")?;
        let base = ImageRef::parse(&image).context("--image")?;
        if base.tag.is_some() || base.digest.is_some() {
            bail!("--image `{image}`: give the repository only; the tag comes from --tag");
        }
        let release = base.with_tag(&tag);
        let platforms = self.opts.platforms();
        if self.push && platforms != Platform::ALL {
            bail!("--push publishes the index of both platforms: drop --platform");
        }
        labels::load(&paths::labels_json())?;
        check_dockerfile_fresh()?;
        if self.opts.dry_run {
            print!("{}", prepared.plan);
            println!(
                "image: {release} ({})",
                if self.push {
                    "pushed after verification"
                } else {
                    "loaded locally after verification"
                }
            );
            return Ok(());
        }
        docker::preflight(sh)?;
        let builder = Builder::detect(sh, self.builder.as_deref())?;
        let (strategy, why) = Strategy::choose(&builder);
        rep.println(format!("image strategy: {strategy} ({why})"));
        if self.push {
            match docker::inspect_raw(self.builder.as_deref(), &release)? {
                Remote::Found { digest, .. } if !self.force => bail!(
                    "{release} already exists (index {digest}): a published tag is not replaced; choose a new --tag, or pass --force to replace it"
                ),
                Remote::Found { .. } => rep.println(format!("{release} exists and will be replaced (--force)")),
                Remote::NotFound => {}
            }
        }

        stage::run(sh, &rep, &prepared, epoch)?;
        let d = Dist {
            rep: &rep,
            builder: self.builder.as_deref(),
            strategy,
            base: &base,
            tag: &tag,
        };
        let verified = if self.push {
            d.publish()?
        } else {
            d.load_locally(&platforms)?
        };

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

fn check_dockerfile_fresh() -> Result<()> {
    let want = labels::dockerfile(&labels::load(&paths::labels_json())?);
    let path = paths::dockerfile();
    let have = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    if have != want {
        bail!("{path} is stale: it is generated from extension/labels.json; run `cargo xtask codegen`");
    }
    Ok(())
}

struct Dist<'a> {
    rep: &'a Reporter,
    builder: Option<&'a str>,
    strategy: Strategy,
    base: &'a ImageRef,
    tag: &'a str,
}

impl Dist<'_> {
    fn work_dir(&self) -> Result<Utf8PathBuf> {
        let dir = paths::dist_dir().join("image");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        Ok(dir)
    }

    /// A reference a person can tell is not a release: `TAG-unverified[-ARCH]`.
    fn candidate(&self, platform: Option<Platform>) -> ImageRef {
        match platform {
            Some(p) => self
                .base
                .with_tag(&format!("{}-unverified-{}", self.tag, p.0.docker())),
            None => self.base.with_tag(&format!("{}-unverified", self.tag)),
        }
    }

    fn build(
        &self,
        platforms: &[Platform],
        output: Output,
        metadata: Option<&camino::Utf8Path>,
    ) -> CmdSpec {
        docker::build(
            self.builder,
            &paths::dockerfile(),
            &paths::stage_dir(),
            platforms,
            output,
            metadata,
        )
    }

    /// Pushes the candidate index, verifies it from the registry, points the release tag
    /// at the verified digest, and verifies the release tag again.
    fn publish(&self) -> Result<Verified> {
        let work = self.work_dir()?;
        let candidate = self.candidate(None);
        match self.strategy {
            Strategy::MultiPlatform => {
                let md = work.join("multi.json");
                let cmd = self.build(&Platform::ALL, Output::Push(&candidate), Some(&md));
                self.rep
                    .run("image linux/amd64,linux/arm64", &cmd, |_| None)?;
            }
            Strategy::PerPlatform => {
                let mut manifests = Vec::new();
                for p in Platform::ALL {
                    let md = work.join(format!("{}.json", p.stage_name()));
                    let _ = std::fs::remove_file(&md);
                    let r = self.candidate(Some(p));
                    self.rep.run(
                        &format!("image {p}"),
                        &self.build(&[p], Output::Push(&r), Some(&md)),
                        |_| None,
                    )?;
                    manifests.push(self.base.with_digest(&docker::metadata_digest(&md)?));
                }
                let merge = docker::imagetools_create(self.builder, &candidate, &manifests);
                self.rep.run("index", &merge, |_| None)?;
            }
        }
        let staged = paths::stage_dir();
        let checked = verify::verify_remote(self.rep, self.builder, &candidate, Some(&staged))?;
        // Only now does the release tag move, to exactly the digest that was verified.
        let release = self.base.with_tag(self.tag);
        let verified_ref = self.base.with_digest(&checked.index_digest);
        self.rep.run(
            "release tag",
            &docker::imagetools_create(self.builder, &release, &[verified_ref]),
            |_| None,
        )?;
        let again = verify::verify_remote(self.rep, self.builder, &release, Some(&staged))?;
        if again.index_digest != checked.index_digest {
            bail!(
                "{release} resolves to {} after tagging, not the verified {}",
                again.index_digest,
                checked.index_digest
            );
        }
        Ok(again)
    }

    /// Loads each variant under a candidate tag, verifies it, and tags this machine's
    /// variant as the release locally.
    fn load_locally(&self, platforms: &[Platform]) -> Result<Verified> {
        let work = self.work_dir()?;
        let mut problems = Vec::new();
        let mut digests = BTreeMap::new();
        for &p in platforms {
            let candidate = self.candidate(Some(p));
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
                        &self.candidate(Some(host)).to_string(),
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
                ["image", "rm", &self.candidate(Some(p)).to_string()],
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
