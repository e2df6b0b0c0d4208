//! `cargo xtask verify IMAGE:TAG --rebuild`: builds the image again from this checkout,
//! from nothing (a scratch target directory: host binaries, UI and staged trees made anew;
//! no BuildKit cache), and compares each platform's manifest digest with the published
//! one. Nothing is pushed and no tag moves: the rebuild goes to an OCI layout on disk. On a
//! mismatch it says what differs: the manifest and config fields, and the files (path,
//! size and SHA-256 on each side).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::digest;
use crate::docker::{self, Attest, Builder, Output, Remote};
use crate::paths;
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::target::ImagePlatform;
use crate::workspace;

/// What the rebuild is compared against: the published index's platforms and digests.
pub struct Published<'a> {
    pub reference: &'a ImageRef,
    pub platforms: &'a BTreeMap<ImagePlatform, String>,
}

/// How to rebuild: the flags of `verify`, read once.
pub struct Options<'a> {
    /// One [`capable_builder`] accepted (ask it first: in a second, before anything is
    /// exported or compiled).
    pub builder: Option<&'a str>,
    /// `--metadata`: staged from this metadata.json, as `dist --metadata` would.
    pub metadata: Option<&'a Utf8Path>,
    pub verbose: bool,
}

/// Rebuilds `published`'s platforms from this checkout and compares; an error lists every
/// difference.
pub fn run(rep: &Reporter, opts: &Options, published: &Published) -> Result<()> {
    let builder = opts.builder;
    let _lock = paths::lock_dist()?;
    let scratch = paths::dist_dir().join("rebuild");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("cannot clear {scratch}"))?;
    }
    let platforms: Vec<ImagePlatform> = published.platforms.keys().copied().collect();
    // What the child `stage` gives the staged files' mtimes, and `dist` its image builds.
    let epoch = workspace::source_date_epoch()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stage = stage(rep, &scratch.join("target"), &platforms, opts)?;
    // BuildKit decides whether a context file changed from its metadata alone (see
    // `docker::prune_context_cache`): a context cached by an earlier build must not stand
    // in for this one.
    rep.run(
        "context cache",
        &docker::prune_context_cache(builder),
        |_| None,
    )?;
    let mut differences = Vec::new();
    for (&p, want) in published.platforms {
        let dir = scratch.join(p.stage_name());
        let manifest = published.reference.with_digest(want);
        let published_manifest = match docker::inspect_raw(builder, &manifest)? {
            Remote::Found { raw, .. } => serde_json::from_str(&raw)
                .with_context(|| format!("{manifest}: the registry's manifest is not JSON"))?,
            Remote::NotFound => {
                bail!("{manifest}: the index lists it, the registry has no such manifest")
            }
        };
        let built = Built {
            stage: &stage,
            epoch,
            dir: &dir,
            oci_media_types: oci_media_types(&published_manifest),
        };
        let got = build_image(rep, builder, p, &built)?;
        if got == *want {
            println!("  {p}: {want}: rebuilt from this checkout, identical");
            continue;
        }
        let found = explain(
            rep,
            builder,
            (&manifest, &published_manifest),
            p,
            &got,
            &built,
        )?;
        differences.push(format!(
            "{p}: manifest {want} (published) vs {got} (rebuilt)"
        ));
        differences.extend(found.into_iter().map(|d| format!("{p}: {d}")));
    }
    if !differences.is_empty() {
        bail!(
            "{}: the rebuild from this checkout differs from the published image \
             (the rebuild is kept in {scratch}):\n  {}",
            published.reference,
            differences.join("\n  ")
        );
    }
    // Hundreds of megabytes of compiler output, needed by nothing once they matched.
    std::fs::remove_dir_all(&scratch).with_context(|| format!("cannot remove {scratch}"))?;
    Ok(())
}

/// A builder that can rebuild reproducibly: an OCI exporter (the manifest digest without
/// pushing) and a BuildKit that applies `SOURCE_DATE_EPOCH` to the config and history.
pub fn capable_builder(builder: Option<&str>) -> Result<Builder> {
    let b = Builder::detect(builder)?;
    let needed = "Needed: BuildKit 0.11+ with the OCI exporter: Docker Desktop, or Docker \
                  Engine 24+ with the containerd image store, or a docker-container builder \
                  (`docker buildx create --use`; or name one with --builder / BUILDX_BUILDER)";
    if !b.multi_platform {
        bail!(
            "builder `{}` (driver {}, the classic image store, {}) cannot rebuild \
             reproducibly: it has no OCI exporter to give a manifest digest without pushing{}. \
             {needed}",
            b.name,
            b.driver,
            b.reproducibility.found,
            match b.reproducibility.reproducible {
                true => "",
                false => ", and its BuildKit does not apply SOURCE_DATE_EPOCH to the image config",
            }
        );
    }
    if let Some(why) = b.why_not_message() {
        bail!("cannot rebuild reproducibly: {why}. {needed}");
    }
    Ok(b)
}

/// `cargo xtask stage` of this checkout with `CARGO_TARGET_DIR=target`: the very pipeline
/// `dist` stages with (plan, build, UI, stage), none of its outputs or fingerprints
/// reused. A child process, because every path of the pipeline derives from
/// `CARGO_TARGET_DIR`: this process's own stays as it is. Returns the staged trees.
fn stage(
    rep: &Reporter,
    target: &Utf8Path,
    platforms: &[ImagePlatform],
    opts: &Options,
) -> Result<Utf8PathBuf> {
    let exe = std::env::current_exe().context("cannot find the xtask's own executable")?;
    let exe = Utf8PathBuf::try_from(exe).context("the xtask's own path is not UTF-8")?;
    let mut args = vec!["stage".to_owned()];
    for p in platforms {
        args.extend(["--platform".to_owned(), p.to_string()]);
    }
    if let Some(m) = opts.metadata {
        args.extend(["--metadata".to_owned(), m.to_string()]);
    }
    if opts.verbose {
        args.push("--verbose".to_owned());
    }
    let cmd = Cmd::new(exe.as_str(), args).env("CARGO_TARGET_DIR", target.as_str());
    rep.run("rebuild: stage", &cmd, |_| None)?;
    Ok(paths::stage_dir_of(target))
}

/// One platform's rebuild: the staged trees, their `SOURCE_DATE_EPOCH`, and where its
/// OCI layout goes.
struct Built<'a> {
    stage: &'a Utf8Path,
    epoch: u64,
    dir: &'a Utf8Path,
    /// The published manifest's kind of media types, which are part of its digest.
    oci_media_types: bool,
}

/// Whether `manifest` uses OCI's media types. BuildKit pushes OCI's when it attaches
/// attestations (`dist`'s default where the builder can) and Docker's when not
/// (`--no-provenance`); the rebuild must write the same to get the same digest (measured
/// on the containerd-store engine: both kinds match a rebuild that chose alike).
fn oci_media_types(manifest: &Value) -> bool {
    manifest["mediaType"].as_str() != Some("application/vnd.docker.distribution.manifest.v2+json")
}

/// Builds one platform from the staged trees into `dir`; returns its manifest digest.
fn build_image(
    rep: &Reporter,
    builder: Option<&str>,
    p: ImagePlatform,
    built: &Built,
) -> Result<String> {
    let (cmd, md) = image_cmd(builder, p, built);
    rep.run(&format!("rebuild image {p}"), &cmd, |_| None)?;
    docker::metadata_digest(&md)
}

/// The build of one platform with the Dockerfile `dist` uses, into an OCI layout in
/// `dir/oci`, with no cache; and the metadata file that gets its digest.
fn image_cmd(builder: Option<&str>, p: ImagePlatform, built: &Built) -> (Cmd, Utf8PathBuf) {
    let md = built.dir.join("metadata.json");
    let mut cmd = docker::build(
        builder,
        &paths::dockerfile(),
        built.stage,
        &[p],
        Output::Oci {
            dest: &built.dir.join("oci"),
            oci_media_types: built.oci_media_types,
        },
        Some(&md),
        Some(built.epoch),
    );
    // Attestations sit beside an image manifest in the index, never in it: the platform's
    // digest is the same without them, and with them one platform's build is an index.
    let context = cmd.args.pop();
    cmd.args.push("--no-cache".to_owned());
    cmd.args.extend(Attest::default().args());
    cmd.args.extend(context);
    (cmd, md)
}

/// What differs between the published manifest `want` and the rebuilt `got` of `p`:
/// manifest and config fields, then files.
fn explain(
    rep: &Reporter,
    builder: Option<&str>,
    (manifest, published_manifest): (&ImageRef, &Value),
    p: ImagePlatform,
    got: &str,
    built: &Built,
) -> Result<Vec<String>> {
    let dir = built.dir;
    let published_config = docker::image_config(builder, manifest)?;
    let layout = dir.join("oci");
    let rebuilt_manifest = blob(&layout, got)?;
    let config_digest = rebuilt_manifest["config"]["digest"]
        .as_str()
        .with_context(|| format!("{layout}: manifest {got} names no config"))?;
    let rebuilt_config = blob(&layout, config_digest)?;

    let mut out = Vec::new();
    // The config's digest differs exactly when a config field does: those are listed.
    let without_config = |m: &Value| {
        let mut m = m.clone();
        if let Some(o) = m.as_object_mut() {
            o.remove("config");
        }
        m
    };
    out.extend(differences(
        "manifest",
        &without_config(published_manifest),
        &without_config(&rebuilt_manifest),
    ));
    let config = differences(
        "config",
        &image_spec(&published_config),
        &image_spec(&rebuilt_config),
    );
    let times = config.iter().any(|d| d.starts_with("config.created"));
    out.extend(config);
    if times {
        out.push(epoch_hint(built.epoch));
    }

    let published_fs = docker::export_fs(rep, builder, manifest, p, &dir.join("published"))?;
    let rebuilt_fs = dir.join("rebuilt");
    let export = docker::build(
        builder,
        &paths::dockerfile(),
        built.stage,
        &[p],
        Output::Local(&rebuilt_fs),
        None,
        Some(built.epoch),
    );
    rep.run(&format!("export rebuilt {p}"), &export, |_| None)?;
    out.extend(tree_diff(&tree(&published_fs)?, &tree(&rebuilt_fs)?));
    if out.is_empty() {
        out.push(
            "no manifest field, config field, file content or mode differs: the layers differ \
             in what an export does not show (file times, owners, compression)"
                .to_owned(),
        );
    }
    Ok(out)
}

/// What the `created` times of a rebuild come from, and how to match a published image.
fn epoch_hint(epoch: u64) -> String {
    let from = match std::env::var_os("SOURCE_DATE_EPOCH") {
        Some(_) => "as set",
        None => "the last commit's time",
    };
    format!(
        "the rebuild's times are SOURCE_DATE_EPOCH={epoch} ({}, {from}); other times in the \
         published config mean it was built from another commit, or without SOURCE_DATE_EPOCH: \
         rebuild at the commit it was built from, or set SOURCE_DATE_EPOCH to its time",
        rfc3339(epoch)
    )
}

/// Seconds since 1970 as the UTC time BuildKit writes into a config (`2026-12-07T03:14:55Z`).
fn rfc3339(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        workspace::civil_date(secs / 86_400),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON blob of an OCI image layout.
fn blob(layout: &Utf8Path, digest: &str) -> Result<Value> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("{layout}: `{digest}` is not a sha256 digest"))?;
    let path = layout.join("blobs/sha256").join(hex);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path} (the rebuild's OCI layout)"))?;
    serde_json::from_str(&text).with_context(|| format!("{path}: not JSON"))
}

/// The fields of an image config the OCI image spec defines: the published config is read
/// through buildx, which prints those and drops anything else.
fn image_spec(config: &Value) -> Value {
    const FIELDS: [&str; 10] = [
        "created",
        "author",
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "config",
        "rootfs",
        "history",
    ];
    let kept = FIELDS
        .iter()
        .filter_map(|&k| Some((k.to_owned(), config.get(k)?.clone())))
        .collect();
    Value::Object(kept)
}

/// Every leaf where `published` and `rebuilt` differ, as `path: A (published) vs B
/// (rebuilt)`; arrays compare element by element (`history[2].created`). Leaves with the
/// same two values share a line (one time in `created` and every history entry).
fn differences(root: &str, published: &Value, rebuilt: &Value) -> Vec<String> {
    let mut leaves = Vec::new();
    diff(root, Some(published), Some(rebuilt), &mut leaves);
    let mut grouped: Vec<(Vec<String>, (String, String))> = Vec::new();
    for (path, values) in leaves {
        match grouped.iter_mut().find(|(_, v)| *v == values) {
            Some((paths, _)) => paths.push(path),
            None => grouped.push((vec![path], values)),
        }
    }
    grouped
        .into_iter()
        .map(|(paths, (a, b))| format!("{}: {a} (published) vs {b} (rebuilt)", paths.join(", ")))
        .collect()
}

fn diff(
    path: &str,
    published: Option<&Value>,
    rebuilt: Option<&Value>,
    out: &mut Vec<(String, (String, String))>,
) {
    match (published, rebuilt) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                diff(&field(path, k), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                diff(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push((path.to_owned(), (show(a), show(b)))),
    }
}

/// `path.key`, or `path["key"]` for a key with dots (labels).
fn field(path: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}

fn show(v: Option<&Value>) -> String {
    const MAX: usize = 120;
    let Some(v) = v else {
        return "absent".to_owned();
    };
    let text = v.to_string();
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

/// One file of an exported image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct File {
    size: u64,
    sha256: String,
    mode: Option<u32>,
}

/// Every file below `root`, by its path in the image (`/linux/host-bin`).
fn tree(root: &Utf8Path) -> Result<BTreeMap<String, File>> {
    let mut out = BTreeMap::new();
    for path in digest::walk_files(root)? {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
        out.insert(
            format!("/{rel}"),
            File {
                size: bytes.len() as u64,
                sha256: digest::sha256_bytes_hex(&bytes),
                mode: digest::mode(&path),
            },
        );
    }
    Ok(out)
}

fn tree_diff(published: &BTreeMap<String, File>, rebuilt: &BTreeMap<String, File>) -> Vec<String> {
    let describe = |f: &File| format!("size {} sha256 {}", f.size, f.sha256);
    let paths: BTreeSet<&String> = published.keys().chain(rebuilt.keys()).collect();
    let mut out = Vec::new();
    for path in paths {
        match (published.get(path), rebuilt.get(path)) {
            (Some(a), Some(b)) if a.sha256 != b.sha256 || a.size != b.size => out.push(format!(
                "{path}: {} (published) vs {} (rebuilt)",
                describe(a),
                describe(b)
            )),
            (Some(a), Some(b)) if a.mode != b.mode => out.push(format!(
                "{path}: mode {:o} (published) vs {:o} (rebuilt)",
                a.mode.unwrap_or_default(),
                b.mode.unwrap_or_default()
            )),
            (Some(a), None) => out.push(format!(
                "{path}: only in the published image ({})",
                describe(a)
            )),
            (None, Some(b)) => out.push(format!("{path}: only in the rebuild ({})", describe(b))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_differences_name_the_field_and_both_values() {
        let published = json!({"created": "2026-01-01T00:00:00Z", "config": {
            "Labels": {"org.opencontainers.image.title": "A", "same": "x"},
            "Env": ["PATH=/bin"], "Cmd": ["/vm-service"]},
            "history": [{"created_by": "LABEL", "created": "2026-01-01T00:00:00Z"},
                        {"created_by": "COPY"}]});
        let rebuilt = json!({"created": "2026-02-01T00:00:00Z", "config": {
            "Labels": {"org.opencontainers.image.title": "B", "same": "x"},
            "Env": ["PATH=/bin"], "Entrypoint": ["/x"]},
            "history": [{"created_by": "LABEL", "created": "2026-02-01T00:00:00Z"}]});
        assert_eq!(
            differences("config", &published, &rebuilt),
            [
                r#"config.config.Cmd: ["/vm-service"] (published) vs absent (rebuilt)"#,
                r#"config.config.Entrypoint: absent (published) vs ["/x"] (rebuilt)"#,
                r#"config.config.Labels["org.opencontainers.image.title"]: "A" (published) vs "B" (rebuilt)"#,
                r#"config.created, config.history[0].created: "2026-01-01T00:00:00Z" (published) vs "2026-02-01T00:00:00Z" (rebuilt)"#,
                r#"config.history[1]: {"created_by":"COPY"} (published) vs absent (rebuilt)"#,
            ]
        );
    }

    #[test]
    fn epoch_seconds_as_buildkit_writes_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_611_453), "2026-12-07T02:44:13Z");
    }

    #[test]
    fn media_types_follow_the_published_manifest() {
        let docker = json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json"});
        let oci = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json"});
        assert!(!oci_media_types(&docker));
        assert!(oci_media_types(&oci));
        // An OCI manifest may leave its media type out.
        assert!(oci_media_types(&json!({"schemaVersion": 2})));
    }

    #[test]
    fn long_values_are_cut() {
        let long = Value::String("x".repeat(500));
        assert_eq!(show(Some(&long)).len(), 123);
        assert_eq!(show(None), "absent");
    }

    #[test]
    fn only_the_spec_fields_of_a_config_are_compared() {
        let raw = json!({"created": "t", "os": "linux", "moby.buildkit.buildinfo.v1": "e30="});
        assert_eq!(image_spec(&raw), json!({"created": "t", "os": "linux"}));
    }

    #[test]
    fn file_differences_name_path_size_and_sha256() {
        let file = |size, sha: &str, mode| File {
            size,
            sha256: sha.to_owned(),
            mode: Some(mode),
        };
        let published = BTreeMap::from([
            ("/linux/host-bin".to_owned(), file(10, "aa", 0o755)),
            ("/metadata.json".to_owned(), file(3, "cc", 0o644)),
            ("/old".to_owned(), file(1, "dd", 0o644)),
        ]);
        let rebuilt = BTreeMap::from([
            ("/linux/host-bin".to_owned(), file(12, "bb", 0o755)),
            ("/metadata.json".to_owned(), file(3, "cc", 0o755)),
            ("/new".to_owned(), file(2, "ee", 0o644)),
        ]);
        assert_eq!(
            tree_diff(&published, &rebuilt),
            [
                "/linux/host-bin: size 10 sha256 aa (published) vs size 12 sha256 bb (rebuilt)",
                "/metadata.json: mode 644 (published) vs 755 (rebuilt)",
                "/new: only in the rebuild (size 2 sha256 ee)",
                "/old: only in the published image (size 1 sha256 dd)",
            ]
        );
    }

    #[test]
    fn the_rebuild_writes_an_oci_layout_without_attestations_or_cache() {
        let built = Built {
            stage: Utf8Path::new("stage"),
            epoch: 1_700_000_000,
            dir: Utf8Path::new("r/linux-arm64"),
            oci_media_types: false,
        };
        let (cmd, md) = image_cmd(Some("b"), ImagePlatform::ALL[1], &built);
        // The arguments, not the printed line: paths are joined with the host's separator
        // and quoted for the host's shell (the suite also runs these tests under wine).
        let dir = Utf8Path::new("r/linux-arm64");
        let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
        assert_eq!(cmd.program, "docker");
        assert_eq!(args[..4], ["buildx", "--builder", "b", "build"], "{args:?}");
        let output = format!(
            "type=oci,dest={},tar=false,oci-mediatypes=false",
            dir.join("oci")
        );
        let metadata = dir.join("metadata.json");
        let window = [
            "--platform",
            "linux/arm64",
            "--progress",
            "plain",
            "--output",
            &output,
            "--metadata-file",
            metadata.as_str(),
        ];
        assert!(args.windows(window.len()).any(|w| w == window), "{args:?}");
        assert!(
            args.ends_with(&[
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "--no-cache",
                "--provenance=false",
                "stage"
            ]),
            "{args:?}"
        );
        assert_eq!(md, metadata);
        assert!(
            !args.contains(&"--push") && !args.contains(&"--load"),
            "{args:?}"
        );
    }
}
