//! Facts about the workspace and the local Rust toolchain, read once per run.

use std::collections::{BTreeMap, BTreeSet};

use camino::Utf8PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

/// Packages whose binaries are tooling, never shipped in the image.
const TOOLING: &[&str] = &["xtask"];

#[derive(Deserialize)]
struct CargoMetadata {
    packages: Vec<Package>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    manifest_path: Utf8PathBuf,
    targets: Vec<CargoTarget>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
    kind: Vec<String>,
}

/// What the workspace's manifests say, from one `cargo metadata` call.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Binary target -> package, for every package that builds host binaries.
    pub bins: BTreeMap<String, String>,
    /// The directories of those packages: their files are the build's sources.
    pub package_dirs: Vec<Utf8PathBuf>,
    /// The extension's version (the host packages inherit the workspace version).
    pub version: String,
    /// `[workspace.metadata.extension] image`, the default image name.
    pub image: Option<String>,
}

pub fn load(sh: &Shell) -> Result<Workspace> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps --offline")
        .quiet()
        .read()
        .context("`cargo metadata` failed: is Cargo.toml valid?")?;
    let meta: CargoMetadata =
        serde_json::from_str(&json).context("cannot parse `cargo metadata` output")?;
    let mut ws = Workspace {
        bins: BTreeMap::new(),
        package_dirs: Vec::new(),
        version: String::new(),
        image: meta
            .metadata
            .as_ref()
            .and_then(|m| m["extension"]["image"].as_str())
            .map(str::to_owned),
    };
    let mut hosts: Vec<Package> = meta
        .packages
        .into_iter()
        .filter(|p| !TOOLING.contains(&p.name.as_str()))
        .collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    for p in hosts {
        if ws.version.is_empty() {
            ws.version = p.version.clone();
        }
        if let Some(dir) = p.manifest_path.parent() {
            ws.package_dirs.push(dir.to_owned());
        }
        for t in p
            .targets
            .into_iter()
            .filter(|t| t.kind.iter().any(|k| k == "bin"))
        {
            ws.bins.insert(t.name, p.name.clone());
        }
    }
    Ok(ws)
}

/// `rustc -vV`: the compiler's identity, an input of every build.
pub fn rustc_vv(sh: &Shell) -> Result<String> {
    cmd!(sh, "rustc -vV")
        .quiet()
        .read()
        .context("`rustc -vV` failed: is Rust installed?")
}

/// The targets whose standard library this Rust installation has, and whether rustup
/// manages it (and so can add more).
pub struct InstalledTargets {
    pub rustup: bool,
    pub targets: BTreeSet<String>,
}

impl InstalledTargets {
    /// The triples of the target matrix this Rust lacks.
    pub fn missing(&self) -> Vec<&'static str> {
        crate::target::TARGETS
            .iter()
            .map(|t| t.triple)
            .filter(|t| !self.targets.contains(*t))
            .collect()
    }
}

pub fn installed_targets(sh: &Shell) -> Result<InstalledTargets> {
    if which::which("rustup").is_ok() {
        let out = cmd!(sh, "rustup target list --installed")
            .quiet()
            .read()
            .context("`rustup target list --installed` failed")?;
        return Ok(InstalledTargets {
            rustup: true,
            targets: out.lines().map(str::to_owned).collect(),
        });
    }
    // Without rustup, a target is installed when its standard library is in the sysroot.
    let sysroot = cmd!(sh, "rustc --print sysroot")
        .quiet()
        .read()
        .context("`rustc --print sysroot` failed")?;
    let rustlib = std::path::Path::new(sysroot.trim()).join("lib/rustlib");
    let targets = std::fs::read_dir(&rustlib)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("lib").is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(InstalledTargets {
        rustup: false,
        targets,
    })
}

/// The toolchain to hand cross as `+NAME`: the active rustc's version number (`1.95.0`).
/// Given a channel name (`stable`) or nothing, cross runs `rustup toolchain add`, which
/// updates the channel (or fails offline); a version names exactly what is installed.
pub fn cross_toolchain(sh: &Shell) -> Option<String> {
    which::which("rustup").ok()?;
    let out = cmd!(sh, "rustc -V").quiet().ignore_stderr().read().ok()?;
    rustc_version(&out)
}

fn rustc_version(rustc_v: &str) -> Option<String> {
    let version = rustc_v.split_whitespace().nth(1)?;
    // Only a release has a toolchain named after its version; nightlies and betas don't.
    version
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        .then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rustc_version() {
        assert_eq!(
            super::rustc_version("rustc 1.95.0 (59807616e 2026-04-14)").as_deref(),
            Some("1.95.0")
        );
        assert_eq!(
            super::rustc_version("rustc 1.97.0-nightly (abc 2026-05-01)"),
            None
        );
    }
}
