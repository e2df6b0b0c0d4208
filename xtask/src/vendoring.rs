//! The pipeline's side of `vendor.toml` (the [`crate::vendor`] crate is the library): which
//! pinned artifact each image platform ships at each path, fetching them beside the
//! builds, the CPU `verify` expects under a declared fallback, and `cargo xtask vendor`.
//!
//! `vendor.toml` lives beside `metadata.json` (`extension/vendor.toml`); without one, an
//! extension ships only what the workspace builds.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::flags::{VendorCmd, VendorWhat};
use crate::metadata::{Extension, Known};
use crate::progress::Reporter;
use crate::target::{Arch, ImagePlatform};
use crate::vendor::fetch::{Cache, Event, FetchOptions};
use crate::vendor::lock::LockRequest;
use crate::vendor::{self, Artifact, Manifest};
use crate::{paths, workspace};

/// `vendor.toml` beside `metadata`.
pub fn manifest_path(metadata: &Utf8Path) -> Utf8PathBuf {
    metadata
        .parent()
        .map_or_else(|| "vendor.toml".into(), |d| d.join("vendor.toml"))
}

/// The manifest beside `metadata`, if the extension has one.
pub fn load(metadata: &Utf8Path) -> Result<Option<Manifest>> {
    let path = manifest_path(metadata);
    if !path.exists() {
        return Ok(None);
    }
    Manifest::load(&path).map(Some)
}

/// The names an extension may ship: built by the workspace or pinned in `manifest`.
pub fn known(workspace_bins: BTreeSet<String>, manifest: Option<&Manifest>) -> Known {
    Known {
        workspace: workspace_bins,
        vendored: manifest
            .map(|m| m.names().map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// (image platform, path in the image) -> the artifact staged there.
pub type Artifacts = BTreeMap<(ImagePlatform, String), Artifact>;

/// What every vendored path of `ext` gets on each of `platforms`, after checking the
/// manifest against metadata.json: all problems at once, each naming file and key,
/// before anything compiles or downloads.
pub fn resolve(
    manifest: Option<&Manifest>,
    ext: &Extension,
    platforms: &[ImagePlatform],
    workspace_bins: &BTreeSet<String>,
) -> Result<Artifacts> {
    let Some(manifest) = manifest else {
        return Ok(Artifacts::new());
    };
    let files: Vec<(String, vendor::HostPlatform, ImagePlatform, &str)> = ext
        .vendored()
        .flat_map(|b| {
            let file = b.path.rsplit('/').next().unwrap_or(&b.path).to_owned();
            platforms.iter().map(move |&p| {
                (
                    file.clone(),
                    vendor::HostPlatform::new(b.os, p.0),
                    p,
                    b.path.as_str(),
                )
            })
        })
        .collect();
    let needed: Vec<(&str, vendor::HostPlatform)> =
        files.iter().map(|(f, vp, ..)| (f.as_str(), *vp)).collect();
    let problems = manifest.check(&needed, workspace_bins);
    if !problems.is_empty() {
        bail!(
            "{} does not fit metadata.json, {} problem(s):\n  {}",
            manifest.path(),
            problems.len(),
            problems.join("\n  ")
        );
    }
    let mut out = Artifacts::new();
    for b in ext.vendored() {
        for &p in platforms {
            let a = manifest.resolve(&b.bin, vendor::HostPlatform::new(b.os, p.0))?;
            out.insert((p, b.path.clone()), a);
        }
    }
    Ok(out)
}

/// The download options: the environment (`CARGO_NET_OFFLINE`, `XTASK_VENDOR_MIRROR`,
/// `XTASK_VENDOR_MAX_BYTES`), and `--offline`.
pub fn fetch_options(offline: bool) -> Result<FetchOptions> {
    let mut o = FetchOptions::from_env()?;
    o.offline |= offline;
    Ok(o)
}

/// A fetched binary: where it is in the cache and the SHA-256 its bytes must have.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: Utf8PathBuf,
    pub sha256: String,
}

/// What identifies one usable binary: the download's hash and what was taken out of it
/// (two entries may take different files out of one archive).
pub type Key = (String, Option<String>, String);

/// Every fetched binary, by [`key`].
pub type FetchedAll = BTreeMap<Key, Fetched>;

pub fn key(a: &Artifact) -> Key {
    (a.sha256.clone(), a.upstream.member.clone(), a.file_name())
}

/// Fetches every artifact once (shared cache, verified by hash before use).
pub fn fetch_all<'a>(
    rep: &Reporter,
    artifacts: impl IntoIterator<Item = &'a Artifact>,
    opts: FetchOptions,
) -> Result<FetchedAll> {
    let mut out = BTreeMap::new();
    let artifacts: Vec<&Artifact> = artifacts.into_iter().collect();
    if artifacts.is_empty() {
        return Ok(out);
    }
    let cache = Cache::new(Cache::default_dir()?, opts);
    for a in artifacts {
        if let Some(note) = a.fallback_note() {
            rep.println(format!("vendor: {note}"));
        }
        if out.contains_key(&key(a)) {
            continue;
        }
        let path = cache.fetch(a, &mut |e| match e {
            Event::Cached { .. } => {}
            Event::Downloading { url } => rep.println(format!(
                "vendor: {} {} for {}: downloading {url}",
                a.name, a.version, a.platform
            )),
            Event::Downloaded { bytes, .. } => rep.println(format!(
                "vendor: {} {} for {}: {:.1} MB, sha256 verified",
                a.name,
                a.version,
                a.platform,
                bytes as f64 / 1e6
            )),
        })?;
        let sha256 = cache
            .expected_sha256(a)
            .with_context(|| format!("{path}: unpacked without a recorded SHA-256"))?;
        out.insert(key(a), Fetched { path, sha256 });
    }
    Ok(out)
}

/// (image platform, path) -> the CPU of the build shipped there, where a declared
/// fallback ships another CPU's build (Windows on ARM running the amd64 one).
pub fn built_for(
    manifest: Option<&Manifest>,
    ext: &Extension,
) -> BTreeMap<(ImagePlatform, String), Arch> {
    let mut out = BTreeMap::new();
    let Some(manifest) = manifest else { return out };
    for b in ext.vendored() {
        for p in ImagePlatform::ALL {
            let Some(from) = manifest.fallback(&b.bin, vendor::HostPlatform::new(b.os, p.0)) else {
                continue;
            };
            let arch = Arch::ALL
                .into_iter()
                .find(|a| a.docker() == from.arch.docker());
            if let Some(arch) = arch.filter(|a| *a != p.0) {
                out.insert((p, b.path.clone()), arch);
            }
        }
    }
    out
}

/// The CPU overrides `verify` applies to images of the extension `metadata` describes.
/// `ws` names the binaries the workspace builds.
pub fn built_for_at(
    metadata: &Utf8Path,
    ws: &workspace::Workspace,
) -> Result<BTreeMap<(ImagePlatform, String), Arch>> {
    let Some(manifest) = load(metadata)? else {
        return Ok(BTreeMap::new());
    };
    let bins = ws.bins.keys().cloned().collect();
    let ext = Extension::load(metadata, Some(&known(bins, Some(&manifest))))?;
    Ok(built_for(Some(&manifest), &ext))
}

impl VendorCmd {
    pub fn run(self) -> Result<()> {
        let metadata = self.metadata.clone().unwrap_or_else(paths::metadata_json);
        let path = manifest_path(&metadata);
        let manifest = load(&metadata)?
            .with_context(|| format!("{path} does not exist: there is nothing to vendor"))?;
        let ws = workspace::load()?;
        let bins: BTreeSet<String> = ws.bins.keys().cloned().collect();
        let ext = Extension::load(&metadata, Some(&known(bins.clone(), Some(&manifest))))?;
        let rep = Reporter::new(false);
        match self.what {
            VendorWhat::Lock { name, version } => {
                // Every platform an image variant ships the binary to.
                let platforms: Vec<vendor::HostPlatform> = ext
                    .vendored()
                    .filter(|b| name.as_deref().is_none_or(|n| n == b.bin))
                    .flat_map(|b| {
                        Arch::ALL
                            .into_iter()
                            .map(|a| vendor::HostPlatform::new(b.os, a))
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let cache = Cache::new(Cache::default_dir()?, fetch_options(false)?);
                let req = LockRequest {
                    name: name.as_deref(),
                    version: version.as_deref(),
                    platforms: &platforms,
                };
                let changes = vendor::lock::lock(&path, &req, &cache, &mut |_| {})?;
                if changes.is_empty() {
                    println!("{path}: every pin is current");
                }
                for c in changes {
                    println!("{path}: {c}");
                }
                Ok(())
            }
            VendorWhat::Fetch { offline } => {
                let artifacts = resolve(Some(&manifest), &ext, &ImagePlatform::ALL, &bins)?;
                let fetched = fetch_all(&rep, artifacts.values(), fetch_options(offline)?)?;
                println!(
                    "{} artifact(s) for {} path(s) in the cache {}",
                    fetched.len(),
                    artifacts.len(),
                    Cache::default_dir()?
                );
                Ok(())
            }
        }
    }
}
