//! Facts about the workspace and the local Rust toolchain, read once per run.

use std::collections::{BTreeMap, BTreeSet};

use camino::Utf8PathBuf;

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::binfmt::Floors;
use crate::cmd::Cmd;
use crate::json;
use crate::reference::ImageRef;

/// The xtask and its own crates: tooling, never shipped in the image, and not among the
/// sources a host build's fingerprint covers.
const TOOLING: &[&str] = &["xtask", "xtask-leaf", "xtask-vendor"];

/// A package of `cargo metadata`, as far as the xtask reads it.
struct Package {
    name: String,
    version: String,
    manifest_path: Utf8PathBuf,
    /// (name, kinds) of each target.
    targets: Vec<(String, Vec<String>)>,
}

fn package(v: &Value, at: &str) -> Result<Package> {
    let target = |v: &Value, at: &str| -> Result<(String, Vec<String>)> {
        let kinds = json::elements(
            json::required(v, at, "kind")?,
            &json::at(at, "kind"),
            |k, at| json::string(k, at).map(str::to_owned),
        )?;
        Ok((json::required_string(v, at, "name")?, kinds))
    };
    Ok(Package {
        name: json::required_string(v, at, "name")?,
        version: json::required_string(v, at, "version")?,
        manifest_path: json::required_string(v, at, "manifest_path")?.into(),
        targets: json::elements(
            json::required(v, at, "targets")?,
            &json::at(at, "targets"),
            target,
        )?,
    })
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
    /// Binary name -> (arguments, expected stdout) of its smoke run:
    /// `[workspace.metadata.extension.smoke.NAME] args / expect`.
    pub smoke: BTreeMap<String, (Vec<String>, String)>,
    /// The oldest macOS and Windows the host binaries must start on:
    /// `[workspace.metadata.extension] min-macos` / `min-windows`, else Docker Desktop's.
    pub floors: Floors,
    /// `[workspace.metadata.extension] vm-service`: the binary target that is the VM
    /// service (staged at `/<name>` and run by the image), when metadata.json's `vm` runs
    /// this extension's own image. Never a host binary.
    pub vm_service: Option<String>,
}

pub fn load() -> Result<Workspace> {
    let out = Cmd::new(
        "cargo",
        [
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ],
    )
    .read()
    .context("`cargo metadata` failed: is Cargo.toml valid?")?;
    let meta: Value = serde_json::from_str(&out).context("cannot parse `cargo metadata` output")?;
    let packages = json::required(&meta, "", "packages")
        .and_then(|p| json::elements(p, "packages", package))
        .context("cannot read `cargo metadata` output")?;
    let extension = meta["metadata"]["extension"].clone();
    let mut ws = Workspace {
        bins: BTreeMap::new(),
        package_dirs: Vec::new(),
        version: String::new(),
        image: extension["image"].as_str().map(str::to_owned),
        floors: floors(&extension)?,
        smoke: smoke(&extension)?,
        vm_service: None,
    };
    let mut hosts: Vec<Package> = packages
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
        for (name, kinds) in p.targets {
            if kinds.iter().any(|k| k == "bin") {
                ws.bins.insert(name, p.name.clone());
            }
        }
    }
    ws.vm_service = vm_service(&extension, &ws.bins)?;
    Ok(ws)
}

/// `vm-service = "NAME"`: a binary target of a workspace package.
fn vm_service(extension: &Value, bins: &BTreeMap<String, String>) -> Result<Option<String>> {
    let Some(v) = extension.get("vm-service") else {
        return Ok(None);
    };
    match v.as_str() {
        Some(name) if bins.contains_key(name) => Ok(Some(name.to_owned())),
        _ => bail!(
            "Cargo.toml: [workspace.metadata.extension] vm-service: expected the name of a binary a workspace package builds ({}), found {v}",
            bins.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `[workspace.metadata.extension.smoke.NAME]`: `args` (strings) and `expect`.
fn smoke(extension: &serde_json::Value) -> Result<BTreeMap<String, (Vec<String>, String)>> {
    let mut out = BTreeMap::new();
    for (name, v) in extension["smoke"].as_object().into_iter().flatten() {
        let args: Option<Vec<String>> = v["args"]
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect());
        match (args, v["expect"].as_str()) {
            (Some(args), Some(expect)) => out.insert(name.clone(), (args, expect.to_owned())),
            _ => bail!(
                "Cargo.toml: [workspace.metadata.extension.smoke.{name}]: expected `args` (a list of strings) and `expect` (a string), found {v}"
            ),
        };
    }
    Ok(out)
}

/// `min-macos` / `min-windows` (`"14.0"`) over Docker Desktop's own floors.
fn floors(extension: &serde_json::Value) -> Result<Floors> {
    let mut floors = Floors::default();
    let version = |key: &str| -> Result<Option<(u32, u32)>> {
        let Some(v) = extension.get(key) else {
            return Ok(None);
        };
        let parsed = v.as_str().and_then(|s| {
            let (major, minor) = s.split_once('.').unwrap_or((s, "0"));
            Some((major.parse().ok()?, minor.parse().ok()?))
        });
        match parsed {
            Some(p) => Ok(Some(p)),
            None => bail!(
                "Cargo.toml: [workspace.metadata.extension] {key}: expected a version like \"14.0\", found {v}"
            ),
        }
    };
    if let Some(v) = version("min-macos")? {
        floors.macos = v;
    }
    if let Some((major, minor)) = version("min-windows")? {
        floors.windows = (
            u16::try_from(major).unwrap_or(u16::MAX),
            u16::try_from(minor).unwrap_or(u16::MAX),
        );
    }
    Ok(floors)
}

impl Workspace {
    /// The release reference: `--image` (or `XTASK_IMAGE`) else Cargo.toml's
    /// `[workspace.metadata.extension] image`, tagged `--tag` else the workspace version.
    /// The one place the default is decided; errors name where the bad value came from.
    pub fn release(&self, image: Option<&str>, tag: Option<&str>) -> Result<ImageRef> {
        let (repo, from) = match (image, &self.image) {
            (Some(i), _) => (i, "--image (or XTASK_IMAGE)"),
            (None, Some(i)) => (i.as_str(), "[workspace.metadata.extension] image in Cargo.toml"),
            (None, None) => bail!(
                "no image name: pass --image or set [workspace.metadata.extension] image in Cargo.toml"
            ),
        };
        let base = ImageRef::parse(repo).context(from)?;
        if base.tag.is_some() || base.digest.is_some() {
            bail!("{from}: `{repo}`: give the repository only; the tag comes from --tag");
        }
        let (tag, from) = match tag {
            Some(t) => (t, "--tag"),
            None => (
                self.version.as_str(),
                "the workspace version in Cargo.toml (the default tag)",
            ),
        };
        crate::reference::check_release_tag(tag).context(from)?;
        Ok(base.with_tag(tag))
    }
}

/// The timestamp staged files (and link timestamps) get: `SOURCE_DATE_EPOCH` (the
/// reproducible-builds convention) if set, else the last commit's time.
pub fn source_date_epoch() -> Result<SystemTime> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => parse_epoch(&v)?,
        Err(_) => {
            let out = Cmd::new("git", ["log", "-1", "--format=%ct"]).read();
            match out.ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(s) => s,
                None => bail!("cannot read the last commit's time (`git log -1 --format=%ct`): set SOURCE_DATE_EPOCH"),
            }
        }
    };
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn parse_epoch(v: &str) -> Result<u64> {
    v.trim()
        .parse::<u64>()
        .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}`: expected whole seconds since 1970"))
}

/// `rustc -vV`: the compiler's identity, an input of every build.
pub fn rustc_vv() -> Result<String> {
    Cmd::new("rustc", ["-vV"])
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

pub fn installed_targets() -> Result<InstalledTargets> {
    if which::which("rustup").is_ok() {
        let out = Cmd::new("rustup", ["target", "list", "--installed"])
            .read()
            .context("`rustup target list --installed` failed")?;
        return Ok(InstalledTargets {
            rustup: true,
            targets: out.lines().map(str::to_owned).collect(),
        });
    }
    // Without rustup, a target is installed when its standard library is in the sysroot.
    let sysroot = Cmd::new("rustc", ["--print", "sysroot"])
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
/// `rustc_vv` is [`rustc_vv`]'s output, whose first line is `rustc -V`'s.
pub fn cross_toolchain(rustc_vv: &str) -> Option<String> {
    which::which("rustup").ok()?;
    rustc_version(rustc_vv.lines().next()?)
}

fn rustc_version(rustc_v: &str) -> Option<String> {
    let version = rustc_v.split_whitespace().nth(1)?;
    // Only a release has a toolchain named after its version; nightlies and betas don't.
    version
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        .then(|| version.to_owned())
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`,
/// https://howardhinnant.github.io/date_algorithms.html), so no date crate is needed for it.
pub fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn floors_from_cargo_toml() {
        let ext = serde_json::json!({"min-macos": "13.5", "min-windows": "10"});
        let f = super::floors(&ext).unwrap();
        assert_eq!((f.macos, f.windows), ((13, 5), (10, 0)));
        assert_eq!(
            super::floors(&serde_json::json!({})).unwrap(),
            Default::default()
        );
        let e = super::floors(&serde_json::json!({"min-macos": 14}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("min-macos: expected a version like \"14.0\", found 14"),
            "{e}"
        );
    }

    #[test]
    fn source_date_epoch_is_parsed_or_named() {
        assert_eq!(super::parse_epoch(" 1700000000\n").unwrap(), 1_700_000_000);
        let e = super::parse_epoch("yesterday").unwrap_err().to_string();
        assert!(e.contains("SOURCE_DATE_EPOCH=`yesterday`"), "{e}");
    }

    #[test]
    fn release_reference_and_where_a_bad_value_came_from() {
        let ws = super::Workspace {
            bins: Default::default(),
            package_dirs: Vec::new(),
            version: "0.1.0".into(),
            image: Some("docker.io/acme/ext".into()),
            floors: Default::default(),
            smoke: Default::default(),
            vm_service: None,
        };
        assert_eq!(
            ws.release(None, None).unwrap().to_string(),
            "docker.io/acme/ext:0.1.0"
        );
        assert_eq!(
            ws.release(Some("reg.io/x"), Some("2.0.0"))
                .unwrap()
                .to_string(),
            "reg.io/x:2.0.0"
        );
        let e = format!("{:#}", ws.release(Some("Reg/X"), None).unwrap_err());
        assert!(e.starts_with("--image (or XTASK_IMAGE)"), "{e}");
        let e = format!(
            "{:#}",
            ws.release(Some("reg.io/x:1.0.0"), None).unwrap_err()
        );
        assert!(e.contains("give the repository only"), "{e}");
        let e = format!("{:#}", ws.release(None, Some("latest")).unwrap_err());
        assert!(e.starts_with("--tag"), "{e}");
        let bad = super::Workspace {
            version: "v1".into(),
            ..ws.clone()
        };
        let e = format!("{:#}", bad.release(None, None).unwrap_err());
        assert!(e.starts_with("the workspace version in Cargo.toml"), "{e}");
        let none = super::Workspace { image: None, ..ws };
        assert!(none.release(None, None).is_err());
    }

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
