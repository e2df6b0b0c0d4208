//! `vendor lock [NAME] [--version V]`: fills or refreshes the pins in `vendor.toml`.
//!
//! A pin comes from the checksum file upstream publishes when the entry names one
//! (`checksum_url`: kubectl's `.sha256`, helm's `.sha256sum`), which costs a few bytes
//! per platform; otherwise the artifact is downloaded and hashed (and kept in the cache,
//! so the next fetch is free). The file is rewritten with `toml_edit`, so comments,
//! order and layout stay as the user wrote them; only changed values are touched.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use toml_edit::{DocumentMut, Item, Table};

use crate::vendor::{Manifest, Platform};
use crate::vendor_fetch::{self, Cache, Event};

/// What to lock. `platforms`: those the extension ships (the caller derives them from
/// `metadata.json`); pins already in the file are refreshed too; a platform with a
/// fallback gets its stand-in pinned.
#[derive(Debug, Clone, Default)]
pub struct LockRequest<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub platforms: &'a [Platform],
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
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{path}: not valid TOML: {e}"))?;
    let mut changes = Vec::new();
    let names: Vec<String> = match req.name {
        Some(n) => {
            if doc.get(n).and_then(Item::as_table_like).is_none() {
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
        let old = doc[n]
            .get("version")
            .and_then(Item::as_str)
            .map(str::to_owned);
        if old.as_deref() != Some(v) {
            set_value(
                doc[n].as_table_like_mut().expect("checked above"),
                "version",
                v,
            );
            changes.push(Change {
                key: format!("{n}.version"),
                old,
                new: v.to_owned(),
            });
        }
    }
    // Parse what would be written: templates render with the new version, and a broken
    // table is reported before anything downloads.
    let manifest = Manifest::parse(path, &doc.to_string())?;
    for name in &names {
        let targets: BTreeSet<Platform> = req
            .platforms
            .iter()
            .copied()
            .chain(
                Platform::ALL
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
                    vendor_fetch::parse_checksum_file(&text, file)
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
                set_pin(&mut doc, name, platform, &hash);
                changes.push(Change {
                    key: format!("{name}.sha256.{platform}"),
                    old,
                    new: hash,
                });
            }
        }
    }
    if !changes.is_empty() {
        let out = doc.to_string();
        Manifest::parse(path, &out).context("the rewritten manifest does not parse (a bug)")?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, out).with_context(|| format!("cannot write {tmp}"))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {path}"))?;
    }
    Ok(changes)
}

/// Replaces a string value keeping the comments around it.
fn set_value(t: &mut dyn toml_edit::TableLike, key: &str, v: &str) {
    match t.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = v.into();
            *old.decor_mut() = decor;
        }
        None => {
            t.insert(key, toml_edit::value(v));
        }
    }
}

fn set_pin(doc: &mut DocumentMut, name: &str, platform: Platform, hash: &str) {
    let entry = doc[name]
        .as_table_like_mut()
        .expect("a table, checked by parse");
    if entry.get("sha256").is_none() {
        let mut t = Table::new();
        t.set_implicit(false);
        entry.insert("sha256", Item::Table(t));
    }
    let pins = entry
        .get_mut("sha256")
        .and_then(Item::as_table_like_mut)
        .expect("sha256 is a table, checked by parse");
    set_value(pins, &platform.to_string(), hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_comments() {
        let mut doc: DocumentMut = "# top\n[k]\nversion = \"1\"  # the version\n[k.sha256]\n# pins\nlinux-amd64 = \"x\" # old\n"
            .parse()
            .unwrap();
        set_value(doc["k"].as_table_like_mut().unwrap(), "version", "2");
        set_pin(&mut doc, "k", Platform::parse("linux-amd64").unwrap(), "y");
        set_pin(&mut doc, "k", Platform::parse("linux-arm64").unwrap(), "z");
        assert_eq!(
            doc.to_string(),
            "# top\n[k]\nversion = \"2\"  # the version\n[k.sha256]\n# pins\nlinux-amd64 = \"y\" # old\nlinux-arm64 = \"z\"\n"
        );
        let mut doc: DocumentMut = "[k]\nversion = \"1\"\n\n[j]\nversion = \"1\"\n"
            .parse()
            .unwrap();
        set_pin(&mut doc, "k", Platform::parse("linux-amd64").unwrap(), "y");
        assert!(
            doc.to_string()
                .contains("[k.sha256]\nlinux-amd64 = \"y\"\n"),
            "{doc}"
        );
    }
}
