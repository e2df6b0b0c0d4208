//! docker and docker buildx: preflight checks, builder detection, and the commands the
//! image steps run. Functions that build a command return it (a `Cmd`), so tests
//! can read the argv and callers decide how to run it.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::cmd::Cmd;
use crate::digest;
use crate::json;
use crate::progress::Reporter;
use crate::reference::ImageRef;
use crate::reproducible::{major_minor, Reproducibility};
use crate::target::ImagePlatform;

/// buildx older than this lacks pieces we rely on (`--metadata-file` with
/// `containerimage.digest`, `imagetools inspect --format`).
pub const MIN_BUILDX: (u64, u64) = (0, 10);

/// `github.com/docker/buildx 0.13.1+ds1 ...` or `... v0.17.1 ...` -> (0, 13)
pub fn buildx_version(out: &str) -> Option<(u64, u64)> {
    major_minor(out.split_whitespace().nth(1)?)
}

/// What the chosen buildx builder can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub name: String,
    pub driver: String,
    /// One build can produce a multi-platform index and push it. Such a builder can also
    /// attach attestations (provenance, SBOM); the classic image store can do neither.
    pub multi_platform: bool,
    pub reproducibility: Reproducibility,
}

/// The attestations a build attaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attest {
    /// SLSA provenance, `mode=max` (every build step and its inputs).
    pub provenance: bool,
    /// An SBOM, made by this generator image (BuildKit's scanner protocol).
    pub sbom: Option<String>,
}

impl Attest {
    /// The `docker buildx build` arguments. `--provenance=false` when off: buildx attaches
    /// `mode=min` provenance by default where it can.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![if self.provenance {
            "--provenance=mode=max".to_owned()
        } else {
            "--provenance=false".to_owned()
        }];
        if let Some(g) = &self.sbom {
            args.push(format!("--sbom=generator={g}"));
        }
        args
    }
}

impl fmt::Display for Attest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.provenance, &self.sbom) {
            (true, None) => f.write_str("SLSA provenance (mode=max)"),
            (true, Some(g)) => write!(f, "SLSA provenance (mode=max) and an SBOM by {g}"),
            (false, Some(g)) => write!(f, "an SBOM by {g}"),
            (false, None) => f.write_str("none (--no-provenance)"),
        }
    }
}

impl Builder {
    /// `Reproducibility::why_not` for this builder.
    pub fn why_not_message(&self) -> Option<String> {
        self.reproducibility.why_not(&self.name, &self.driver)
    }

    pub fn detect(name: Option<&str>) -> Result<Builder> {
        let mut args = vec!["buildx".to_owned(), "inspect".to_owned()];
        args.extend(name.map(str::to_owned));
        let out = Cmd::new("docker", args).read().with_context(|| {
            format!("`docker buildx inspect{}` failed: does the builder exist? (`docker buildx ls` lists them)", name.map(|n| format!(" {n}")).unwrap_or_default())
        })?;
        // The docker driver can only build several platforms at once when the engine
        // uses the containerd image store (Docker Desktop's default); its BuildKit is the
        // engine's own, so the engine's version says what it can do.
        let info = Cmd::new(
            "docker",
            [
                "info",
                "--format",
                "{{.ServerVersion}} {{json .DriverStatus}}",
            ],
        )
        .read()
        .unwrap_or_default();
        let containerd_store = info.contains("io.containerd.snapshotter");
        let engine = info.split_whitespace().next();
        parse_inspect(&out, containerd_store, engine)
    }
}

fn parse_inspect(out: &str, containerd_store: bool, engine: Option<&str>) -> Result<Builder> {
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
            .filter(|v| !v.is_empty())
    };
    let name = field("Name:").context("`docker buildx inspect` printed no builder name")?;
    let driver = field("Driver:").context("`docker buildx inspect` printed no driver")?;
    let multi_platform = driver != "docker" || containerd_store;
    // The first node's; buildx before 0.11 printed `Buildkit:`.
    let buildkit = field("BuildKit version:").or_else(|| field("Buildkit:"));
    let reproducibility = Reproducibility::judge(&driver, buildkit.as_deref(), engine);
    Ok(Builder {
        name,
        driver,
        multi_platform,
        reproducibility,
    })
}

/// How the multi-platform index gets made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One `buildx build --platform a,b --push`.
    MultiPlatform,
    /// One build per platform, pushed (or loaded) on its own, merged by `imagetools create`.
    PerPlatform,
}

impl Strategy {
    pub fn choose(builder: &Builder) -> (Strategy, String) {
        if builder.multi_platform {
            (
                Strategy::MultiPlatform,
                format!(
                    "builder `{}` (driver {}) builds several platforms in one build",
                    builder.name, builder.driver
                ),
            )
        } else {
            (
                Strategy::PerPlatform,
                format!(
                    "builder `{}` uses the docker driver with the classic image store, which builds one platform at a time: one build per platform, merged with `imagetools create`",
                    builder.name
                ),
            )
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::MultiPlatform => "multi-platform",
            Strategy::PerPlatform => "per-platform",
        })
    }
}

/// `docker buildx [--builder B] ARGS...`
pub fn buildx(builder: Option<&str>, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
    let mut all = vec!["buildx".to_owned()];
    if let Some(b) = builder {
        all.extend(["--builder".to_owned(), b.to_owned()]);
    }
    all.extend(args.into_iter().map(Into::into));
    Cmd::new("docker", all)
}

/// Where a build's result goes.
pub enum Output<'a> {
    Push(&'a ImageRef),
    Load(&'a ImageRef),
    Local(&'a Utf8Path),
    /// An OCI image layout (a directory: `index.json`, `blobs/`): the image as a registry
    /// would get it, with its manifest digest in the `--metadata-file`, pushed nowhere.
    /// `oci_media_types: false` writes Docker's media types, as BuildKit's push does for
    /// a build without attestations (the OCI exporter's default is OCI's).
    Oci {
        dest: &'a Utf8Path,
        oci_media_types: bool,
    },
}

/// `docker buildx build` of `dockerfile` in `context` for `platforms`. With
/// `source_date_epoch` (an image made from the staged tree), BuildKit 0.11+ gives the
/// config's `created` and every history entry that time instead of the build's, which
/// is what made two builds of one tree differ. It goes in as a build argument, visible
/// in the printed plan, rather than through buildx's environment. The layer needs
/// nothing more: staging already gave every file that mtime and a fixed mode. (The
/// exporter's `rewrite-timestamp=true` would not add anything, and the `docker` driver
/// refuses it: "conflicts with unpack", Docker Engine 26.1.)
pub fn build(
    builder: Option<&str>,
    dockerfile: &Utf8Path,
    context: &Utf8Path,
    platforms: &[ImagePlatform],
    output: Output,
    metadata_file: Option<&Utf8Path>,
    source_date_epoch: Option<u64>,
) -> Cmd {
    let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
    let mut args: Vec<String> = vec![
        "build".into(),
        "--file".into(),
        dockerfile.to_string(),
        "--platform".into(),
        platforms.join(","),
        "--progress".into(),
        "plain".into(),
    ];
    match output {
        Output::Push(r) => args.extend(["--push".into(), "--tag".into(), r.to_string()]),
        Output::Load(r) => args.extend(["--load".into(), "--tag".into(), r.to_string()]),
        Output::Local(dir) => args.extend(["--output".into(), format!("type=local,dest={dir}")]),
        Output::Oci {
            dest,
            oci_media_types,
        } => args.extend([
            "--output".into(),
            format!("type=oci,dest={dest},tar=false,oci-mediatypes={oci_media_types}"),
        ]),
    }
    if let Some(m) = metadata_file {
        args.extend(["--metadata-file".into(), m.to_string()]);
    }
    if let Some(epoch) = source_date_epoch {
        args.extend(["--build-arg".into(), format!("SOURCE_DATE_EPOCH={epoch}")]);
    }
    args.push(context.to_string());
    buildx(builder, args)
}

/// Exports a manifest's file system with buildx: `FROM <ref>@<digest>` built for its
/// platform into `dir/fs` (`dir` is cleared first). Returns `dir/fs`.
pub fn export_fs(
    rep: &Reporter,
    builder: Option<&str>,
    manifest: &ImageRef,
    platform: ImagePlatform,
    dir: &Utf8Path,
) -> Result<Utf8PathBuf> {
    let out = dir.join("fs");
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {dir}"))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM {manifest}\n"))?;
    let cmd = build(
        builder,
        &dockerfile,
        dir,
        &[platform],
        Output::Local(&out),
        None,
        // An export of a published image: nothing of ours is built.
        None,
    );
    rep.run(&format!("export {platform}"), &cmd, |_| None)?;
    Ok(out)
}

/// Forgets the build contexts BuildKit has cached. It decides whether a context file
/// changed from its metadata alone (name, size, mode, mtime: moby/buildkit#4817), and
/// staging gives every file the same mtime, so a rebuilt binary of the same size could
/// be taken from the cache of an earlier build. `verify` would catch that, but only
/// after a failed run.
pub fn prune_context_cache(builder: Option<&str>) -> Cmd {
    buildx(
        builder,
        ["prune", "--force", "--filter", "type=source.local"],
    )
}

/// `imagetools create -t TARGET SOURCES...`: an index from manifests, or a new tag for
/// an existing index (its digest is kept).
pub fn imagetools_create(builder: Option<&str>, target: &ImageRef, sources: &[ImageRef]) -> Cmd {
    let mut args = vec![
        "imagetools".to_owned(),
        "create".to_owned(),
        "--tag".to_owned(),
        target.to_string(),
    ];
    args.extend(sources.iter().map(ToString::to_string));
    buildx(builder, args)
}

/// The digest buildx reports in a `--metadata-file`.
pub fn metadata_digest(file: &Utf8Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read buildx metadata {file}"))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{file}: not JSON"))?;
    v["containerimage.digest"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{file}: no `containerimage.digest` (did the build push?)"))
}

/// What a registry says about a reference.
#[derive(Debug, PartialEq, Eq)]
pub enum Remote {
    /// The manifest (or index) bytes and their digest.
    Found {
        raw: String,
        digest: String,
    },
    NotFound,
}

/// Reads `reference`'s manifest from its registry. A missing tag is `NotFound`; an
/// unreachable registry or missing login is an error that says so.
pub fn inspect_raw(builder: Option<&str>, reference: &ImageRef) -> Result<Remote> {
    let spec = buildx(
        builder,
        ["imagetools", "inspect", "--raw", &reference.to_string()],
    );
    let out = spec.output()?;
    if out.status.success() {
        // buildx prints the registry's bytes: their digest is the reference's digest.
        let digest = format!("sha256:{}", digest::sha256_bytes_hex(out.stdout.as_bytes()));
        return Ok(Remote::Found {
            raw: out.stdout,
            digest,
        });
    }
    classify_inspect_error(reference, out.stderr.trim())
}

fn classify_inspect_error(reference: &ImageRef, err: &str) -> Result<Remote> {
    let lower = err.to_ascii_lowercase();
    let registry = reference.registry();
    // Auth and network first: their messages can contain "not found" too (a credential
    // helper that is not installed), and must never read as "this tag does not exist".
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("denied")
        || lower.contains("credential")
    {
        bail!("registry {registry} refused access to {reference} ({err}): run `docker login {registry}`");
    }
    if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("dial tcp")
        || lower.contains("timeout")
    {
        bail!("registry {registry} is not reachable ({err}): is it running, and is the image name right?");
    }
    let ours = format!("{reference}: not found").to_ascii_lowercase();
    if lower.contains(&ours) || lower.contains("manifest unknown") || lower.contains("name unknown")
    {
        return Ok(Remote::NotFound);
    }
    bail!("cannot read {reference} from {registry}: {err}")
}

/// The image config (os, architecture, labels) of one platform's manifest.
pub fn image_config(builder: Option<&str>, manifest: &ImageRef) -> Result<Value> {
    let spec = buildx(
        builder,
        [
            "imagetools",
            "inspect",
            &manifest.to_string(),
            "--format",
            "{{json .Image}}",
        ],
    );
    let out = spec.read()?;
    serde_json::from_str(&out).with_context(|| format!("`{spec}` printed no image config: {out}"))
}

/// An image index (OCI or Docker manifest list), as far as the xtask reads it.
#[derive(Debug)]
pub struct Index {
    pub media_type: Option<String>,
    /// `None` for a single-platform manifest.
    pub manifests: Option<Vec<Descriptor>>,
}

#[derive(Debug)]
pub struct Descriptor {
    pub digest: String,
    pub platform: Option<DescriptorPlatform>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct DescriptorPlatform {
    pub os: String,
    pub architecture: String,
}

impl Index {
    /// Missing fields are empty (a registry may leave them out); a field of the wrong
    /// type is an error.
    pub fn parse(raw: &str) -> Result<Index> {
        let v: Value = serde_json::from_str(raw).context("the registry's manifest is not JSON")?;
        let read = || -> Result<Index> {
            let manifests = json::optional(&v, "", "manifests")?;
            Ok(Index {
                media_type: json::optional_string(&v, "", "mediaType")?,
                manifests: manifests
                    .map(|m| json::elements(m, "manifests", descriptor))
                    .transpose()?,
            })
        };
        read().context("the registry's manifest is not an image manifest or index")
    }

    /// (image manifest digest, attestation manifest digest): buildx lists each platform's
    /// attestations (provenance, SBOM) as a manifest of their own, `unknown/unknown`,
    /// annotated with the digest of the image manifest they describe.
    pub fn attestations(&self) -> Vec<(&str, &str)> {
        self.manifests
            .iter()
            .flatten()
            .filter_map(|m| {
                let kind = m.annotations.get("vnd.docker.reference.type")?;
                let of = m.annotations.get("vnd.docker.reference.digest")?;
                (kind == "attestation-manifest").then_some((of.as_str(), m.digest.as_str()))
            })
            .collect()
    }

    /// The in-toto predicate types an attestation manifest's layers carry
    /// (`https://slsa.dev/provenance/v0.2`, `https://spdx.dev/Document`).
    pub fn predicate_types(raw: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(raw).unwrap_or_default();
        let mut types: Vec<String> = v["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["annotations"]["in-toto.io/predicate-type"].as_str())
            .map(str::to_owned)
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// The image manifests with their `os/arch`, attestation manifests (buildx's
    /// provenance and SBOM, listed as `unknown/unknown`) left out.
    pub fn images(&self) -> Vec<(String, &str)> {
        self.manifests
            .iter()
            .flatten()
            .filter(|m| {
                m.annotations
                    .get("vnd.docker.reference.type")
                    .map(String::as_str)
                    != Some("attestation-manifest")
            })
            .map(|m| {
                let name = match &m.platform {
                    Some(p) => format!("{}/{}", p.os, p.architecture),
                    None => "?/?".to_owned(),
                };
                (name, m.digest.as_str())
            })
            .collect()
    }
}

fn descriptor(v: &Value, at: &str) -> Result<Descriptor> {
    let text = |v: &Value, key: &str, at: &str| -> Result<String> {
        Ok(json::optional_string(v, at, key)?.unwrap_or_default())
    };
    let platform = |v: &Value| -> Result<DescriptorPlatform> {
        let at = json::at(at, "platform");
        Ok(DescriptorPlatform {
            os: text(v, "os", &at)?,
            architecture: text(v, "architecture", &at)?,
        })
    };
    let annotations = match json::optional(v, at, "annotations")? {
        Some(a) => json::entries(a, &json::at(at, "annotations"), |v, at| {
            json::string(v, at).map(str::to_owned)
        })?,
        None => Vec::new(),
    };
    Ok(Descriptor {
        digest: text(v, "digest", at)?,
        platform: json::optional(v, at, "platform")?
            .map(platform)
            .transpose()?,
        annotations: annotations.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Shell;

    #[test]
    fn index_fields_may_be_missing_but_not_of_another_type() {
        let raw = r#"{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:b", "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": "sha256:a"}},
            {}]}"#;
        let index = Index::parse(raw).unwrap();
        assert_eq!(
            index.images(),
            [("linux/arm64".into(), "sha256:a"), ("?/?".into(), "")]
        );
        assert_eq!(index.attestations(), [("sha256:a", "sha256:b")]);
        assert!(Index::parse(r#"{"config": {}}"#)
            .unwrap()
            .manifests
            .is_none());
        let e = Index::parse(r#"{"manifests": [{"digest": 1}]}"#).unwrap_err();
        assert!(
            format!("{e:#}")
                .contains("`manifests[0].digest`: invalid type: expected a string, found 1"),
            "{e:#}"
        );
    }

    #[test]
    fn buildx_versions() {
        assert_eq!(
            buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"),
            Some((0, 13))
        );
        assert_eq!(
            buildx_version("github.com/docker/buildx v0.17.1-desktop.1 257e1f3"),
            Some((0, 17))
        );
        assert_eq!(buildx_version("nonsense"), None);
    }

    #[test]
    fn builder_capabilities() {
        let docker = "Name:   default\nDriver: docker\n\nNodes:\nName:      default\nPlatforms: linux/amd64\n";
        let b = parse_inspect(docker, false, None).unwrap();
        assert_eq!(
            (b.name.as_str(), b.driver.as_str(), b.multi_platform),
            ("default", "docker", false)
        );
        assert_eq!(Strategy::choose(&b).0, Strategy::PerPlatform);
        assert!(
            parse_inspect(docker, true, None).unwrap().multi_platform,
            "containerd image store"
        );
        let container = "Name:          ci\nDriver:        docker-container\n";
        let b = parse_inspect(container, false, None).unwrap();
        assert_eq!(Strategy::choose(&b).0, Strategy::MultiPlatform);
        assert!(parse_inspect("garbage", false, None).is_err());
    }

    /// The versions seen here: the classic engine 20.10 (BuildKit v0.8), Debian's dockerd
    /// 26.1 with the containerd store (`v0.0.0+unknown`), a docker-container builder.
    #[test]
    fn reproducibility_from_buildkit_or_engine_version() {
        let node = |driver: &str, bk: &str| {
            format!("Name: b\nDriver: {driver}\n\nNodes:\nName: b0\nBuildKit version: {bk}\n")
        };
        let judge = |driver: &str, bk: &str, engine: &str| {
            let b = parse_inspect(&node(driver, bk), false, Some(engine)).unwrap();
            (b.reproducibility.reproducible, b.why_not_message())
        };
        let (ok, why) = judge("docker", "v0.8+unknown", "20.10.24+dfsg1");
        assert!(!ok);
        assert_eq!(
            why.as_deref(),
            Some(
                "not reproducible: builder `b` (driver docker) has BuildKit v0.8+unknown (Docker Engine \
                 20.10.24+dfsg1); image digests that another build of this commit can reproduce need \
                 BuildKit 0.11+ (Docker Engine 23+ for the docker driver), which applies \
                 SOURCE_DATE_EPOCH to the image config and history"
            )
        );
        assert_eq!(
            judge("docker", "v0.0.0+unknown", "26.1.5+dfsg1"),
            (true, None)
        );
        assert!(!judge("docker", "v0.0.0+unknown", "20.10.24").0);
        assert!(judge("docker-container", "v0.13.2", "20.10.24").0);
        assert!(!judge("docker-container", "v0.10.6", "27.0.0").0);
        // The engine's version says nothing about a docker-container builder's BuildKit.
        assert!(!judge("docker-container", "v0.0.0+unknown", "27.0.0").0);
        let old_buildx = "Name: b\nDriver: remote\nNodes:\nBuildkit: v0.12.0\n";
        assert!(
            parse_inspect(old_buildx, false, None)
                .unwrap()
                .reproducibility
                .reproducible
        );
        let found = parse_inspect(&node("docker", "v0.0.0+unknown"), true, Some("26.1.5"))
            .unwrap()
            .reproducibility
            .found;
        assert_eq!(
            found,
            "Docker Engine 26.1.5 (its built-in BuildKit reports v0.0.0+unknown)"
        );
    }

    #[test]
    fn multi_platform_build_argv() {
        let r = ImageRef::parse("reg.io/ext:1.0.0-unverified").unwrap();
        let cmd = build(
            Some("ci"),
            Utf8Path::new("extension/Dockerfile"),
            Utf8Path::new("target/dist/stage"),
            &ImagePlatform::ALL,
            Output::Push(&r),
            Some(Utf8Path::new("md.json")),
            Some(1_700_000_000),
        );
        assert_eq!(
            cmd.display_in(Shell::Posix).to_string(),
            "docker buildx --builder ci build --file extension/Dockerfile --platform linux/amd64,linux/arm64 \
             --progress plain --push --tag reg.io/ext:1.0.0-unverified --metadata-file md.json \
             --build-arg SOURCE_DATE_EPOCH=1700000000 target/dist/stage"
        );
    }

    #[test]
    fn per_platform_and_merge_argv() {
        let r = ImageRef::parse("reg.io/ext:1.0.0-unverified-arm64").unwrap();
        let cmd = build(
            None,
            Utf8Path::new("D"),
            Utf8Path::new("C"),
            &[ImagePlatform::ALL[1]],
            Output::Push(&r),
            None,
            None,
        );
        assert_eq!(
            cmd.args[..5],
            ["buildx", "build", "--file", "D", "--platform"]
        );
        assert!(cmd.display_in(Shell::Posix).to_string().contains("--platform linux/arm64 --progress plain --push --tag reg.io/ext:1.0.0-unverified-arm64 C"));
        let base = ImageRef::parse("reg.io/ext").unwrap();
        let d = "sha256:".to_owned() + &"a".repeat(64);
        let merge = imagetools_create(None, &base.with_tag("1.0.0"), &[base.with_digest(&d)]);
        assert_eq!(
            merge.display_in(Shell::Posix).to_string(),
            format!("docker buildx imagetools create --tag reg.io/ext:1.0.0 reg.io/ext@{d}")
        );
    }

    #[test]
    fn inspect_errors_say_what_to_do() {
        let r = ImageRef::parse("127.0.0.1:5999/x:1.0.0").unwrap();
        assert_eq!(
            classify_inspect_error(&r, "ERROR: 127.0.0.1:5999/x:1.0.0: not found").unwrap(),
            Remote::NotFound
        );
        let e = classify_inspect_error(&r, "dial tcp 127.0.0.1:5999: connect: connection refused")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("registry 127.0.0.1:5999 is not reachable"),
            "{e}"
        );
        let e = classify_inspect_error(&r, "401 Unauthorized")
            .unwrap_err()
            .to_string();
        assert!(e.contains("docker login 127.0.0.1:5999"), "{e}");
    }
}
