//! `vendor lock [NAME] [--version V]`: fills or refreshes the pins in `vendor.toml`.
//!
//! A pin comes from the checksum file upstream publishes when the entry names one
//! (`checksum_url`: kubectl's `.sha256`, helm's `.sha256sum`), which costs a few bytes
//! per platform; otherwise the artifact is downloaded and hashed (and kept in the cache,
//! so the next fetch is free). The file is rewritten through `toml_edit`
//! (`toml::set_string`), so comments, order and layout stay as the user wrote them; only
//! changed values are touched.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

use crate::fetch::{self, Cache, Event};
use crate::manifest::{HostPlatform, Manifest};
use crate::schema;
use crate::toml::{self, Value};

/// What to lock. `platforms`: those the extension ships (the caller derives them from
/// `metadata.json`); pins already in the file are refreshed too; a platform with a
/// fallback gets its stand-in pinned.
#[derive(Debug, Clone, Default)]
pub struct LockRequest<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub platforms: &'a [HostPlatform],
}

/// One value `lock` wrote: `kubectl.sha256.linux-arm64: (none) -> 4f6c...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub old: Option<String>,
    pub new: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let old = self.old.as_deref().unwrap_or("(none)");
        write!(f, "{}: {old} -> {}", self.key, self.new)
    }
}

/// Rewrites `path` in place (atomically) and returns what changed; nothing is written
/// when a download fails or nothing changed.
pub fn lock(
    path: &Utf8Path,
    req: &LockRequest<'_>,
    cache: &Cache,
    on: &mut dyn FnMut(Event),
) -> Result<Vec<Change>> {
    let mut text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let doc = schema::read(path, &text)?;
    let mut changes = Vec::new();
    let names: Vec<String> = match req.name {
        Some(n) => {
            if doc.get(n).and_then(Value::as_table).is_none() {
                bail!("{path}: no [{n}] table to lock");
            }
            vec![n.to_owned()]
        }
        None if req.version.is_some() => {
            bail!("--version needs a NAME: each binary has its own version")
        }
        None => doc.iter().map(|(k, _)| k.to_owned()).collect(),
    };
    if let (Some(n), Some(v)) = (req.name, req.version) {
        let old = doc
            .get(n)
            .and_then(Value::as_table)
            .and_then(|t| t.get("version"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if old.as_deref() != Some(v) {
            text = set(path, &text, &[n, "version"], v)?;
            changes.push(Change {
                key: format!("{n}.version"),
                old,
                new: v.to_owned(),
            });
        }
    }
    // Parse what would be written: templates render with the new version, and a broken
    // table is reported before anything downloads.
    let manifest = Manifest::parse(path, &text)?;
    for name in &names {
        let targets: BTreeSet<HostPlatform> = req
            .platforms
            .iter()
            .copied()
            .chain(
                HostPlatform::ALL
                    .into_iter()
                    .filter(|&p| manifest.pin(name, p).is_some()),
            )
            .map(|p| manifest.fallback(name, p).unwrap_or(p))
            .collect();
        for platform in targets {
            let up = manifest.locate(name, platform)?;
            let pinned = match &up.checksum_url {
                Some(url) => cache.read_text(url).and_then(|text| {
                    let file = up.url.split(['?', '#']).next().unwrap_or(&up.url);
                    let file = file.rsplit('/').next().unwrap_or(file);
                    fetch::parse_checksum_file(&text, file)
                        .map_err(|e| anyhow::anyhow!("{url}: {e}"))
                }),
                None => cache.pin_by_download(&up, on),
            };
            let hash = pinned.with_context(|| {
                format!(
                    "cannot pin {name} for {platform} (if upstream has no {platform} build, \
                     declare {name}.fallback.{platform} or leave {platform} out of metadata.json)"
                )
            })?;
            let old = manifest.pin(name, platform).map(str::to_owned);
            if old.as_deref() != Some(hash.as_str()) {
                text = set(path, &text, &[name, "sha256", &platform.to_string()], &hash)?;
                changes.push(Change {
                    key: format!("{name}.sha256.{platform}"),
                    old,
                    new: hash,
                });
            }
        }
    }
    if !changes.is_empty() {
        Manifest::parse(path, &text).context("the rewritten manifest does not parse (a bug)")?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {tmp}"))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {path}"))?;
    }
    Ok(changes)
}

/// `text` with `key` set to `value`, every other byte kept.
fn set(path: &Utf8Path, text: &str, key: &[&str], value: &str) -> Result<String> {
    toml::set_string(text, key, value).map_err(|e| {
        anyhow::anyhow!(
            "{path}:{}:{}: cannot set {}: {}",
            e.line,
            e.column,
            key.join("."),
            e.message
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_comments() {
        let path = Utf8Path::new("extension/vendor.toml");
        let text = "# top\n[k]\nversion = \"1\"  # the version\n[k.sha256]\n# pins\nlinux-amd64 = \"x\" # old\n";
        let text = set(path, text, &["k", "version"], "2").unwrap();
        let text = set(path, &text, &["k", "sha256", "linux-amd64"], "y").unwrap();
        let text = set(path, &text, &["k", "sha256", "linux-arm64"], "z").unwrap();
        assert_eq!(
            text,
            "# top\n[k]\nversion = \"2\"  # the version\n[k.sha256]\n# pins\nlinux-amd64 = \"y\" # old\nlinux-arm64 = \"z\"\n"
        );
        let text = "[k]\nversion = \"1\"\n\n[j]\nversion = \"1\"\n";
        let text = set(path, text, &["k", "sha256", "linux-amd64"], "y").unwrap();
        assert_eq!(
            text,
            "[k]\nversion = \"1\"\n[k.sha256]\nlinux-amd64 = \"y\"\n\n[j]\nversion = \"1\"\n"
        );
        let e = set(path, "[k]\nversion = 1\n", &["k", "version"], "2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "extension/vendor.toml:2:11: cannot set k.version: `k.version` is not a string"
        );
    }
}
