//! `cargo xtask verify REF`: proves an extension image is right, ours or anyone's. Every
//! problem is reported (not just the first), each naming the variant, the path or label,
//! and what was expected versus found.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use camino::Utf8Path;
use serde_json::Value;

use crate::binfmt::{self, Floors};
use crate::digest::{self, CHECKSUMS};
use crate::docker::{self, Index, Remote};
use crate::doctor::{self, Item};
use crate::flags::VerifyCmd;
use crate::labels::{self, Labels};
use crate::metadata::{Extension, HostBinary};
use crate::paths;
use crate::progress::Reporter;
use crate::reference::{check_release_tag, ImageRef};
use crate::target::{Arch, ImagePlatform, Os};
use crate::{rebuild, vendoring, workspace};

impl VerifyCmd {
    pub fn run(self) -> Result<()> {
        let reference = ImageRef::parse(&self.image)?;
        doctor::require(&[Item::Docker, Item::Buildx], &doctor::Context::default())?;
        // A builder that cannot rebuild is known in a second, before anything is exported.
        if self.rebuild {
            rebuild::capable_builder(self.builder.as_deref())?;
        }
        let rep = Reporter::new(self.verbose);
        let metadata = self.metadata.clone().unwrap_or_else(paths::metadata_json);
        let rules = Rules::of(&metadata)?;
        let v = verify_remote(
            &rep,
            self.builder.as_deref(),
            &reference,
            None,
            &ImagePlatform::ALL,
            &rules,
        )?;
        println!("{reference}: verified index {}", v.index_digest);
        for (p, d) in &v.platforms {
            println!("  {p}: {d}{}", attested_note(&v, *p));
        }
        if self.rebuild {
            let published = rebuild::Published {
                reference: &reference,
                platforms: &v.platforms,
            };
            let opts = rebuild::Options {
                builder: self.builder.as_deref(),
                metadata: self.metadata.as_deref(),
                verbose: self.verbose,
            };
            rebuild::run(&rep, &opts, &published)?;
            println!(
                "{reference}: rebuilt from this checkout with the same digest for every platform"
            );
        }
        Ok(())
    }
}

/// A verified image.
#[derive(Debug, Clone)]
pub struct Verified {
    pub index_digest: String,
    pub platforms: BTreeMap<ImagePlatform, String>,
    /// What is attested for each platform: the in-toto predicate types of its
    /// attestation manifest (empty where nothing is attached).
    pub attestations: BTreeMap<ImagePlatform, Vec<String>>,
}

/// `" (attested: ...)"` when the platform carries attestations.
pub fn attested_note(v: &Verified, p: ImagePlatform) -> String {
    match v.attestations.get(&p) {
        Some(types) if !types.is_empty() => format!(" (attested: {})", types.join(", ")),
        Some(_) => " (attestation manifest without predicates)".to_owned(),
        None => String::new(),
    }
}

/// Verifies `reference` in its registry. With `staged`, each variant's binaries must also
/// be exactly the ones staged there (their SHA256SUMS must match).
pub fn verify_remote(
    rep: &Reporter,
    builder: Option<&str>,
    reference: &ImageRef,
    staged: Option<&Utf8Path>,
    expected: &[ImagePlatform],
    rules: &Rules,
) -> Result<Verified> {
    let mut problems = Vec::new();
    if let Some(tag) = &reference.tag {
        if let Err(e) = check_release_tag(tag) {
            problems.push(format!("tag: {e}"));
        }
    }
    let (raw, index_digest) = match docker::inspect_raw(builder, reference)? {
        Remote::Found { raw, digest } => (raw, digest),
        Remote::NotFound => bail!("{reference} does not exist in its registry"),
    };
    if let Some(want) = &reference.digest {
        if *want != index_digest {
            problems.push(format!(
                "index: the registry served {index_digest} for {reference}"
            ));
        }
    }
    let (variants, index_problems) = check_index(&raw, expected);
    problems.extend(index_problems);
    let work = paths::dist_dir()
        .join("verify")
        .join(&index_digest.replace(':', "-")[..23]);
    // The variants are independent: check them side by side.
    let checked: Vec<Result<Vec<String>>> = std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = variants
            .iter()
            .map(|(platform, digest)| {
                s.spawn(move || {
                    let manifest = reference.with_digest(digest);
                    rep.println(format!("verify {platform}: {manifest}"));
                    let config = docker::image_config(builder, &manifest)?;
                    let fs = docker::export_fs(
                        rep,
                        builder,
                        &manifest,
                        *platform,
                        &work.join(platform.stage_name()),
                    )?;
                    let sums = staged.map(|s| s.join(platform.stage_name()).join(CHECKSUMS));
                    Ok(check_variant(
                        *platform,
                        &config,
                        &fs,
                        sums.as_deref(),
                        rules,
                    ))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verify thread panicked"))
            .collect()
    });
    for c in checked {
        problems.extend(c?);
    }
    if !problems.is_empty() {
        bail!(
            "{reference} failed verification, {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let attestations = attested(builder, reference, &raw, &variants)?;
    Ok(Verified {
        index_digest,
        platforms: variants.into_iter().collect(),
        attestations,
    })
}

/// What each verified variant has attached: its attestation manifest's predicate types.
fn attested(
    builder: Option<&str>,
    reference: &ImageRef,
    raw: &str,
    variants: &[(ImagePlatform, String)],
) -> Result<BTreeMap<ImagePlatform, Vec<String>>> {
    let index = Index::parse(raw)?;
    let mut out = BTreeMap::new();
    for (of, attestation) in index.attestations() {
        let Some((platform, _)) = variants.iter().find(|(_, d)| d == of) else {
            continue;
        };
        let manifest = reference.with_digest(attestation);
        let types = match docker::inspect_raw(builder, &manifest)? {
            Remote::Found { raw, .. } => Index::predicate_types(&raw),
            Remote::NotFound => {
                bail!("{manifest}: the index lists it, the registry has no such manifest")
            }
        };
        out.insert(*platform, types);
    }
    Ok(out)
}

/// The index must list exactly the `expected` platforms (attestations aside).
pub fn check_index(
    raw: &str,
    expected: &[ImagePlatform],
) -> (Vec<(ImagePlatform, String)>, Vec<String>) {
    let names: Vec<String> = expected.iter().map(ToString::to_string).collect();
    let names = names.join(" and ");
    let mut problems = Vec::new();
    let Ok(index) = Index::parse(raw) else {
        return (
            Vec::new(),
            vec!["index: the registry's manifest is not JSON".to_owned()],
        );
    };
    if index.manifests.is_none() {
        let what = index.media_type.as_deref().unwrap_or("a single manifest");
        return (Vec::new(), vec![format!("index: expected an index of {names}, found {what} (a single image, no platform list)")]);
    }
    let mut variants = Vec::new();
    for (name, digest) in index.images() {
        match ImagePlatform::parse(&name) {
            Ok(p) if variants.iter().any(|(q, _)| *q == p) => {
                problems.push(format!("index: {p} is listed twice"))
            }
            Ok(p) if expected.contains(&p) => variants.push((p, digest.to_owned())),
            _ => problems.push(format!(
                "index: unexpected platform {name} (expected only {names})"
            )),
        }
    }
    for &p in expected {
        if !variants.iter().any(|(q, _)| *q == p) {
            problems.push(format!(
                "index: platform {p} is missing (found: {})",
                listed(&variants)
            ));
        }
    }
    variants.sort();
    (variants, problems)
}

fn listed(variants: &[(ImagePlatform, String)]) -> String {
    if variants.is_empty() {
        return "none".into();
    }
    variants
        .iter()
        .map(|(p, _)| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a host binary must be beyond its format: loadable on an OS no newer than the
/// floors, and of the variant's CPU except where a declared vendored fallback ships
/// another CPU's build.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub floors: Floors,
    /// (variant, path) -> the CPU expected there instead of the variant's.
    pub built_for: BTreeMap<(ImagePlatform, String), Arch>,
}

impl Rules {
    /// The rules of the extension `metadata` describes: Cargo.toml's floors, the
    /// fallbacks of the vendor.toml beside it.
    pub fn of(metadata: &Utf8Path) -> Result<Rules> {
        let ws = workspace::load()?;
        Ok(Rules {
            floors: ws.floors,
            built_for: vendoring::built_for_at(metadata, &ws)?,
        })
    }
}

/// Checks one variant: its config and its exported file system. `rules.floors` are the oldest
/// macOS and Windows its host binaries must start on.
pub fn check_variant(
    platform: ImagePlatform,
    config: &Value,
    fs: &Utf8Path,
    staged_sums: Option<&Utf8Path>,
    rules: &Rules,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut problem = |s: String| out.push(format!("{platform}: {s}"));

    let (os, arch) = (field(config, "os"), field(config, "architecture"));
    if os != "linux" || arch != platform.0.docker() {
        problem(format!(
            "config: expected os/arch linux/{}, found {os}/{arch}",
            platform.0.docker()
        ));
    }
    let found = config_labels(config);
    for p in labels::check(&found) {
        problem(p);
    }
    // Verify runs in a checkout: an image of this repository must not point at a picture
    // the repository lacks.
    for p in labels::check_repository_files(&found, &crate::paths::root()) {
        problem(p);
    }

    let meta_path = fs.join("metadata.json");
    let ext = match Extension::load(&meta_path, None) {
        Ok(ext) => ext,
        Err(e) => {
            // The error starts with the exported file's path; the variant prefix says it.
            let msg = format!("{e:#}")
                .replace(&format!("{meta_path}: "), "")
                .replace(fs.as_str(), "");
            problem(format!("/metadata.json: {msg}"));
            return out;
        }
    };
    for w in &ext.warnings {
        eprintln!("note: {platform}: {}", w.replace(fs.as_str(), ""));
    }
    named_files(&ext, fs).into_iter().for_each(&mut problem);
    let sums = digest::read_sums(&fs.join(CHECKSUMS));
    if sums.is_none() && staged_sums.is_some() && !ext.binaries.is_empty() {
        problem(format!("/{CHECKSUMS}: missing"));
    }
    for b in &ext.binaries {
        binary(platform, b, fs, sums.as_ref(), rules)
            .into_iter()
            .for_each(&mut problem);
    }
    unnamed_binaries(&ext, fs)
        .into_iter()
        .for_each(&mut problem);
    // Would the VM service start in this variant (see `vm`).
    crate::vm::check(platform, config, fs, &ext)
        .into_iter()
        .for_each(&mut problem);
    if let (Some(staged), Some(sums)) = (staged_sums, &sums) {
        match digest::read_sums(staged) {
            Some(want) if want == *sums => {}
            Some(_) => problem(format!(
                "/{CHECKSUMS}: the image's binaries are not the ones staged in {staged}"
            )),
            None => problem(format!("cannot read the staged checksums {staged}")),
        }
    }
    out
}

/// Every file metadata.json names besides the binaries and the icon: the UI entry points.
/// (The icon and the VM's compose file are read by `Extension::load`, which names them
/// when they are missing.)
fn named_files(ext: &Extension, fs: &Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(root) = &ext.ui_root {
        for (name, entry) in &ext.metadata.ui {
            if !fs.join(root).join(&entry.src).is_file() {
                out.push(format!(
                    "/{root}/{}: UI entry point of `ui.{name}` is missing",
                    entry.src
                ));
            }
        }
    }
    out
}

/// One host binary: present, the right format and CPU, loadable on its OS, executable,
/// and the one `SHA256SUMS` lists.
fn binary(
    platform: ImagePlatform,
    b: &HostBinary,
    fs: &Utf8Path,
    sums: Option<&digest::Sums>,
    rules: &Rules,
) -> Vec<String> {
    let path = fs.join(&b.path);
    let at = format!("/{}", b.path);
    let Ok(bytes) = std::fs::read(&path) else {
        return vec![format!("{at}: named in metadata.json but absent")];
    };
    let mut out = Vec::new();
    let arch = rules
        .built_for
        .get(&(platform, b.path.clone()))
        .copied()
        .unwrap_or(platform.0);
    let (format, cpu) = (b.os.format(), arch.cpu());
    // One reader: the format and CPU first (a universal Mach-O counts when it holds the
    // variant's CPU), then everything that would stop it loading.
    match binfmt::sniff(&bytes) {
        Ok(info) if info.format != format || !info.runs_on(cpu) => {
            out.push(format!("{at}: expected {format} {cpu}, found {info}"))
        }
        Err(e) => out.push(format!("{at}: expected {format} {cpu}, found: {e}")),
        Ok(_) => {
            let report = binfmt::check(&bytes, b.os, cpu, &rules.floors);
            out.extend(report.problems.iter().map(|p| format!("{at}: {p}")))
        }
    }
    match digest::mode(&path) {
        Some(m) if b.os != Os::Windows && m & 0o111 == 0 => out.push(format!(
            "{at}: expected an executable file (mode 0755), found mode {m:o}"
        )),
        _ => {}
    }
    if let Some(sums) = sums {
        match sums.get(&b.path) {
            None => out.push(format!("{at}: not listed in /{CHECKSUMS}")),
            Some(want) => {
                let have = digest::sha256_bytes_hex(&bytes);
                if *want != have {
                    out.push(format!(
                        "{at}: checksum {have} does not match /{CHECKSUMS} ({want})"
                    ));
                }
            }
        }
    }
    out
}

/// Files under `/darwin`, `/windows` and `/linux` that metadata.json does not name: they
/// ship but never reach a user (usually a typo in a path).
fn unnamed_binaries(ext: &Extension, fs: &Utf8Path) -> Vec<String> {
    let named: Vec<&str> = ext.binaries.iter().map(|b| b.path.as_str()).collect();
    let mut out = Vec::new();
    for os in Os::ALL {
        let dir = fs.join(os.dir());
        if !dir.is_dir() {
            continue;
        }
        for file in digest::walk_files(&dir).unwrap_or_default() {
            // metadata.json's paths are `/`-separated on every host.
            let rel = file
                .strip_prefix(fs)
                .map_or(file.as_str(), |r| r.as_str())
                .replace('\\', "/");
            if !named.contains(&rel.as_str()) {
                out.push(format!(
                    "/{rel}: shipped under /{} but metadata.json's host.binaries does not name it (it never reaches a user)",
                    os.dir()
                ));
            }
        }
    }
    out
}

fn field<'a>(config: &'a Value, key: &str) -> &'a str {
    // imagetools prints the OCI config (`os`); `docker image inspect` capitalises (`Os`).
    let cap = format!("{}{}", key[..1].to_ascii_uppercase(), &key[1..]);
    config[key]
        .as_str()
        .or_else(|| config[&cap].as_str())
        .unwrap_or("?")
}

fn config_labels(config: &Value) -> Labels {
    let labels = if config["config"].is_object() {
        &config["config"]["Labels"]
    } else {
        &config["Config"]["Labels"]
    };
    labels
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The architecture of an image variant Docker would run on this machine.
pub fn host_platform() -> Option<ImagePlatform> {
    Arch::host().map(ImagePlatform)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str)]) -> String {
        let ms: Vec<Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch))| serde_json::json!({"digest": format!("sha256:{i}"), "platform": {"os": os, "architecture": arch}}))
            .collect();
        serde_json::json!({"manifests": ms}).to_string()
    }

    #[test]
    fn index_needs_exactly_both_platforms() {
        let (v, p) = check_index(
            &index(&[("linux", "amd64"), ("linux", "arm64")]),
            &ImagePlatform::ALL,
        );
        assert_eq!((v.len(), p.len()), (2, 0));
        let (_, p) = check_index(&index(&[("linux", "amd64")]), &ImagePlatform::ALL);
        assert_eq!(
            p,
            ["index: platform linux/arm64 is missing (found: linux/amd64)"]
        );
        let (_, p) = check_index(
            &index(&[("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x")]),
            &ImagePlatform::ALL,
        );
        assert!(p[0].contains("unexpected platform linux/s390x"), "{p:?}");
        let (_, p) = check_index(
            r#"{"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}"#,
            &ImagePlatform::ALL,
        );
        assert!(
            p[0].contains("found application/vnd.oci.image.manifest.v1+json (a single image, no platform list)"),
            "{p:?}"
        );
    }

    #[test]
    fn attestations_are_not_platforms() {
        let raw = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]});
        assert_eq!(
            check_index(&raw.to_string(), &ImagePlatform::ALL).1,
            Vec::<String>::new()
        );
    }

    #[test]
    fn config_fields_in_both_spellings() {
        let oci = serde_json::json!({"os": "linux", "architecture": "arm64", "config": {"Labels": {"a": "b"}}});
        let docker = serde_json::json!({"Os": "linux", "Architecture": "arm64", "Config": {"Labels": {"a": "b"}}});
        for c in [oci, docker] {
            assert_eq!(
                (field(&c, "os"), field(&c, "architecture")),
                ("linux", "arm64")
            );
            assert_eq!(config_labels(&c).get("a").map(String::as_str), Some("b"));
        }
    }
}
