//! `cargo xtask merge IMAGE:TAG SOURCES...`: the last step of a release built on several
//! machines. Each source is one platform's image (a `dist --platform P --push` result, by
//! tag or digest); they are combined into one index with `imagetools create`, verified,
//! and only then tagged.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::docker::{self, Index, Remote};
use crate::doctor::{self, Item};
use crate::flags::MergeCmd;
use crate::progress::Reporter;
use crate::publish;
use crate::reference::{check_release_tag, ImageRef};
use crate::target::ImagePlatform;
use crate::verify::Rules;

impl MergeCmd {
    pub fn run(self) -> Result<()> {
        let release = ImageRef::parse(&self.image)?;
        let tag = release
            .tag
            .clone()
            .context("IMAGE must name the release tag: REPOSITORY:TAG")?;
        check_release_tag(&tag)?;
        if release.digest.is_some() {
            bail!("IMAGE `{release}`: a release is a tag, not a digest");
        }
        let sources = self
            .sources
            .iter()
            .map(|s| ImageRef::parse(s))
            .collect::<Result<Vec<_>>>()?;
        doctor::require(&[Item::Docker, Item::Buildx], &doctor::Context::default())?;
        let rep = Reporter::new(self.verbose);
        let builder = self.builder.as_deref();
        let previous = publish::check_tag(&rep, builder, &release, self.force)?;

        // Resolve every source to the platforms it holds, so the index lists them in
        // platform order whatever order the runners finished in. A source is passed on
        // whole, by digest: an index keeps its attestation manifests (provenance, SBOM)
        // beside its platforms that way.
        let mut manifests: BTreeMap<ImagePlatform, (ImageRef, String)> = BTreeMap::new();
        let mut by_first: BTreeMap<ImagePlatform, ImageRef> = BTreeMap::new();
        for src in &sources {
            let (whole, platforms) = platforms_of(builder, src)?;
            for (platform, _) in &platforms {
                if let Some((other, _)) = manifests.get(platform) {
                    bail!("{platform} is in both {other} and {src}: give one image per platform");
                }
                manifests.insert(*platform, (src.clone(), whole.clone()));
            }
            if let Some((first, _)) = platforms.iter().min() {
                by_first.insert(*first, src.with_digest(&whole));
            }
        }
        let missing: Vec<String> = ImagePlatform::ALL
            .iter()
            .filter(|p| !manifests.contains_key(p))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            bail!("no source provides {}: pass one image per platform (e.g. {release}-amd64 {release}-arm64)", missing.join(", "));
        }
        let refs: Vec<ImageRef> = by_first.into_values().collect();
        let candidate = publish::candidate(&release);
        rep.run(
            "index",
            &docker::imagetools_create(builder, &candidate, &refs),
            |_| None,
        )?;
        let verified = publish::promote(
            &rep,
            builder,
            &candidate,
            &release,
            &ImagePlatform::ALL,
            previous.as_deref(),
            &Rules::of(&crate::paths::metadata_json())?,
        )?;
        if self.json {
            let platforms: serde_json::Map<String, Value> = verified
                .platforms
                .iter()
                .map(|(p, d)| (p.to_string(), json!(d)))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "reference": release.to_string(),
                    "index_digest": verified.index_digest,
                    "platforms": platforms,
                    "attestations": verified.attestations.iter().map(|(p, t)| (p.to_string(), json!(t))).collect::<serde_json::Map<_, _>>(),
                }))?
            );
        } else {
            eprintln!(
                "merged, verified and published {release} (index {})",
                verified.index_digest
            );
        }
        Ok(())
    }
}

/// The digest of the whole source and the (platform, manifest digest) pairs it provides:
/// an index's entries, or a single manifest's platform read from its config.
fn platforms_of(
    builder: Option<&str>,
    src: &ImageRef,
) -> Result<(String, Vec<(ImagePlatform, String)>)> {
    let (raw, digest) = match docker::inspect_raw(builder, src)? {
        Remote::Found { raw, digest } => (raw, digest),
        Remote::NotFound => bail!("source {src} does not exist in its registry"),
    };
    let index = Index::parse(&raw).with_context(|| format!("source {src}"))?;
    if index.manifests.is_none() {
        let config = docker::image_config(builder, &src.with_digest(&digest))?;
        let name = format!(
            "{}/{}",
            config["os"].as_str().unwrap_or("?"),
            config["architecture"].as_str().unwrap_or("?")
        );
        let p = ImagePlatform::parse(&name).with_context(|| format!("source {src}"))?;
        return Ok((digest.clone(), vec![(p, digest)]));
    }
    let platforms = index
        .images()
        .into_iter()
        .map(|(name, digest)| {
            let p = ImagePlatform::parse(&name).with_context(|| format!("source {src}"))?;
            Ok((p, digest.to_owned()))
        })
        .collect::<Result<_>>()?;
    Ok((digest, platforms))
}
