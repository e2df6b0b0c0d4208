//! Publishing without ever exposing a broken tag: a release tag is refused if it exists
//! (unless forced, or unless it already holds exactly this build), and is only ever
//! pointed at a digest that has just been verified.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::cmd::Cmd;
use crate::docker::{self, Remote};
use crate::paths;
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::target::ImagePlatform;
use crate::verify::{self, Rules, Verified};

/// What the last successful publish of a reference from this checkout was: the staged
/// tree it was built from and the verified digest the tag was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub reference: String,
    pub stage: String,
    pub index_digest: String,
    pub platforms: BTreeMap<String, String>,
    /// Missing in a record written before attestations were recorded.
    pub attestations: BTreeMap<String, Vec<String>>,
}

impl Record {
    fn path(reference: &ImageRef) -> Utf8PathBuf {
        let name: String = reference
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        paths::dist_dir()
            .join("published")
            .join(format!("{name}.json"))
    }

    pub fn load(reference: &ImageRef) -> Option<Record> {
        let text = std::fs::read_to_string(Record::path(reference)).ok()?;
        Record::parse(&text).filter(|r| r.reference == reference.to_string())
    }

    /// `None` for anything unreadable: then nothing is known about the last publish.
    fn parse(raw: &str) -> Option<Record> {
        fn text(v: &Value) -> Option<String> {
            v.as_str().map(str::to_owned)
        }
        fn map<T>(v: &Value, read: impl Fn(&Value) -> Option<T>) -> Option<BTreeMap<String, T>> {
            (v.as_object()?.iter())
                .map(|(k, v)| Some((k.clone(), read(v)?)))
                .collect()
        }
        let texts = |v: &Value| v.as_array()?.iter().map(text).collect();
        let v: Value = serde_json::from_str(raw).ok()?;
        Some(Record {
            reference: text(&v["reference"])?,
            stage: text(&v["stage"])?,
            index_digest: text(&v["index_digest"])?,
            platforms: map(&v["platforms"], text)?,
            attestations: match &v["attestations"] {
                Value::Null => BTreeMap::new(),
                a => map(a, texts)?,
            },
        })
    }

    /// Keys sorted (serde_json's `Map`), not in field order as serde's derive wrote them.
    fn to_json(&self) -> Value {
        json!({
            "reference": self.reference,
            "stage": self.stage,
            "index_digest": self.index_digest,
            "platforms": self.platforms,
            "attestations": self.attestations,
        })
    }

    pub fn save(reference: &ImageRef, stage: &str, v: &Verified) -> Result<()> {
        let record = Record {
            reference: reference.to_string(),
            stage: stage.to_owned(),
            index_digest: v.index_digest.clone(),
            platforms: v
                .platforms
                .iter()
                .map(|(p, d)| (p.to_string(), d.clone()))
                .collect(),
            attestations: v
                .attestations
                .iter()
                .map(|(p, t)| (p.to_string(), t.clone()))
                .collect(),
        };
        let path = Record::path(reference);
        std::fs::create_dir_all(path.parent().expect("under dist/"))
            .with_context(|| format!("cannot create {path}"))?;
        std::fs::write(&path, serde_json::to_string_pretty(&record.to_json())?)
            .with_context(|| format!("cannot write {path}"))
    }

    pub fn verified(&self) -> Verified {
        Verified {
            index_digest: self.index_digest.clone(),
            platforms: self
                .platforms
                .iter()
                .filter_map(|(p, d)| Some((ImagePlatform::parse(p).ok()?, d.clone())))
                .collect(),
            attestations: self
                .attestations
                .iter()
                .filter_map(|(p, t)| Some((ImagePlatform::parse(p).ok()?, t.clone())))
                .collect(),
        }
    }
}

/// The registry's view of `release` before any work: its digest if the tag exists (and
/// `force` allows replacing it). Fails when it exists without `force`. Also proves the
/// registry is reachable and we may read it.
pub fn check_tag(
    rep: &Reporter,
    builder: Option<&str>,
    release: &ImageRef,
    force: bool,
) -> Result<Option<String>> {
    match docker::inspect_raw(builder, release)? {
        Remote::NotFound => Ok(None),
        Remote::Found { digest, .. } if force => {
            rep.println(format!("{release} exists and will be replaced (--force)"));
            Ok(Some(digest))
        }
        Remote::Found { digest, .. } => bail!(
            "{release} already exists (index {digest}): a published tag is not replaced; choose a new tag, or pass --force to replace it"
        ),
    }
}

/// The candidate reference for `release`: `unverified-TAG`, a name that says what it is
/// and that is not a semantic version, so nothing that picks the newest version can take
/// an unverified build for a release.
pub fn candidate(release: &ImageRef) -> ImageRef {
    let tag = release.tag.as_deref().unwrap_or("latest");
    release.with_tag(&format!("unverified-{tag}"))
}

/// One platform's candidate for `release`: `unverified-TAG-ARCH`.
pub fn platform_candidate(release: &ImageRef, platform: ImagePlatform) -> ImageRef {
    let tag = release.tag.as_deref().unwrap_or("latest");
    release.with_tag(&format!("unverified-{tag}-{}", platform.0.docker()))
}

/// Verifies `candidate` from the registry by the digest its tag resolves to: what is
/// checked is exactly what gets tagged, whatever happens to the candidate tag meanwhile.
pub fn verify_candidate(
    rep: &Reporter,
    builder: Option<&str>,
    candidate: &ImageRef,
    staged: Option<&Utf8Path>,
    platforms: &[ImagePlatform],
    rules: &Rules,
) -> Result<Verified> {
    let candidate_digest = match docker::inspect_raw(builder, candidate)? {
        Remote::Found { digest, .. } => digest,
        Remote::NotFound => bail!("{candidate} is missing right after pushing it"),
    };
    verify::verify_remote(
        rep,
        builder,
        &candidate.with_digest(&candidate_digest),
        staged,
        platforms,
        rules,
    )
}

/// The tag that points `release` at exactly `verified`.
pub fn tag(builder: Option<&str>, release: &ImageRef, verified: &str) -> Cmd {
    docker::imagetools_create(builder, release, &[release.with_digest(verified)])
}

/// Checks from the registry that `release` now serves `verified` (content addressing
/// makes that the same bytes that were verified). `previous` is the digest the tag held
/// before (a `--force` run): if the tag did not land on the verified digest, it is put
/// back there.
pub fn confirm_tag(
    rep: &Reporter,
    builder: Option<&str>,
    release: &ImageRef,
    verified: &str,
    previous: Option<&str>,
) -> Result<()> {
    let landed = match docker::inspect_raw(builder, release)? {
        Remote::Found { digest, .. } => digest,
        Remote::NotFound => bail!("{release} is missing right after tagging it"),
    };
    if landed == verified {
        return Ok(());
    }
    if let Some(old) = previous {
        rep.run("restore tag", &tag(builder, release, old), |_| None)?;
        bail!("{release} resolved to {landed} after tagging, not the verified {verified}: put it back on {old}");
    }
    bail!("{release} resolves to {landed} after tagging, not the verified {verified}")
}

/// Verifies `candidate`, points `release` at exactly the verified digest and confirms it.
pub fn promote(
    rep: &Reporter,
    builder: Option<&str>,
    candidate: &ImageRef,
    release: &ImageRef,
    platforms: &[ImagePlatform],
    previous: Option<&str>,
    rules: &Rules,
) -> Result<Verified> {
    let checked = verify_candidate(rep, builder, candidate, None, platforms, rules)?;
    rep.run(
        "release tag",
        &tag(builder, release, &checked.index_digest),
        |_| None,
    )?;
    confirm_tag(rep, builder, release, &checked.index_digest, previous)?;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_older_ones_still_load() {
        let record = Record {
            reference: "reg.io/app:1.0.0".into(),
            stage: "abc".into(),
            index_digest: "sha256:1".into(),
            platforms: [("linux/amd64".into(), "sha256:2".into())].into(),
            attestations: [(
                "linux/amd64".into(),
                vec!["https://slsa.dev/provenance/v0.2".into()],
            )]
            .into(),
        };
        let text = serde_json::to_string_pretty(&record.to_json()).unwrap();
        assert_eq!(Record::parse(&text), Some(record));
        // As serde's derive wrote it, before attestations were recorded.
        let old = r#"{"reference": "r:1", "stage": "s", "index_digest": "d", "platforms": {}}"#;
        assert!(Record::parse(old).is_some_and(|r| r.attestations.is_empty()));
        assert_eq!(Record::parse(r#"{"reference": "r:1"}"#), None);
    }
}
