//! Skipping a build job whose inputs have not changed since it last succeeded.
//!
//! cargo knows this too, but asking it costs cargo-zigbuild about a second per target
//! (it probes zig for every triple), which made a no-change `stage` cost a quarter of a
//! cold one. The fingerprint covers what cargo's own would: the command and its
//! environment, the compiler, every file of every local package, the lock file and cargo
//! configuration, and the RUST*/CARGO* environment; the outputs must still be there,
//! byte for byte as that build left them.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::digest::{hash_files, hex, sha256_bytes_hex, sha256_hex, walk_files, Hasher};
use crate::plan::BuildJob;

/// What a successful build left behind.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    fingerprint: String,
    outputs: BTreeMap<Utf8PathBuf, String>,
}

impl Stamp {
    fn to_json(&self) -> Value {
        let outputs: serde_json::Map<String, Value> = (self.outputs.iter())
            .map(|(path, hash)| (path.to_string(), json!(hash)))
            .collect();
        json!({ "fingerprint": self.fingerprint, "outputs": outputs })
    }

    /// `None` for anything unreadable: the job is then simply not fresh.
    fn parse(text: &str) -> Option<Stamp> {
        let v: Value = serde_json::from_str(text).ok()?;
        let outputs = v["outputs"].as_object()?.iter();
        Some(Stamp {
            fingerprint: v["fingerprint"].as_str()?.to_owned(),
            outputs: outputs
                .map(|(path, hash)| Some((path.into(), hash.as_str()?.to_owned())))
                .collect::<Option<_>>()?,
        })
    }
}

/// The inputs shared by every job: sources and toolchain, hashed once per run.
pub fn source_digest(
    root: &Utf8Path,
    local_packages: &[Utf8PathBuf],
    rustc_vv: &str,
) -> Result<String> {
    let mut h = Hasher::new();
    h.update(rustc_vv.as_bytes());
    let mut files: Vec<Utf8PathBuf> = [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "rust-toolchain.toml",
        "rust-toolchain",
    ]
    .iter()
    .map(|f| root.join(f))
    .filter(|p| p.is_file())
    .collect();
    for dir in local_packages {
        files.extend(
            walk_files(dir)?
                .into_iter()
                .filter(|f| !is_build_output(dir, f)),
        );
    }
    h.update(hash_files(root, &files)?.as_bytes());
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            (k.starts_with("CARGO") || k.starts_with("RUST")) && k != "CARGO_TERM_PROGRESS_WHEN"
        })
        .collect();
    env.sort();
    for (k, v) in env {
        h.update(format!("{k}={v}\n").as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// A package nested in the workspace must not hash the workspace's own `target/`.
fn is_build_output(dir: &Utf8Path, f: &Utf8Path) -> bool {
    f.strip_prefix(dir)
        .map(|rel| {
            rel.components()
                .next()
                .is_some_and(|c| matches!(c.as_str(), "target" | "node_modules" | ".git"))
        })
        .unwrap_or(false)
}

fn job_fingerprint(job: &BuildJob, sources: &str) -> String {
    let mut h = Hasher::new();
    h.update(sources.as_bytes());
    h.update(job.cmd.to_string().as_bytes());
    hex(&h.finalize())
}

fn stamp_path(stamps: &Utf8Path, job: &BuildJob) -> Utf8PathBuf {
    let triples: Vec<&str> = job.targets.iter().map(|t| t.triple).collect();
    stamps.join(format!(
        "{}-{}.json",
        job.toolchain,
        &sha256_bytes_hex(triples.join(",").as_bytes())[..16]
    ))
}

/// True when `job` last succeeded with these inputs and its outputs are untouched.
pub fn is_fresh(stamps: &Utf8Path, job: &BuildJob, sources: &str) -> bool {
    let Ok(text) = fs::read_to_string(stamp_path(stamps, job)) else {
        return false;
    };
    let Some(stamp) = Stamp::parse(&text) else {
        return false;
    };
    stamp.fingerprint == job_fingerprint(job, sources)
        && stamp.outputs.len() == job.outputs.len()
        && job.outputs.iter().all(|o| {
            stamp
                .outputs
                .get(o)
                .is_some_and(|h| sha256_hex(o).ok().as_ref() == Some(h))
        })
}

/// Records a successful build of `job`.
pub fn record(stamps: &Utf8Path, job: &BuildJob, sources: &str) -> Result<()> {
    let outputs = job
        .outputs
        .iter()
        .map(|o| Ok((o.clone(), sha256_hex(o)?)))
        .collect::<Result<_>>()?;
    let stamp = Stamp {
        fingerprint: job_fingerprint(job, sources),
        outputs,
    };
    fs::create_dir_all(stamps).with_context(|| format!("cannot create {stamps}"))?;
    let path = stamp_path(stamps, job);
    fs::write(&path, serde_json::to_string_pretty(&stamp.to_json())?)
        .with_context(|| format!("cannot write {path}"))
}

/// Forgets `job`'s stamp, before it runs: a build that fails or is interrupted half way
/// must not leave an old stamp vouching for new, partial outputs.
pub fn forget(stamps: &Utf8Path, job: &BuildJob) {
    let _ = fs::remove_file(stamp_path(stamps, job));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Cmd;
    use crate::target::Target;
    use crate::toolchain::Toolchain;

    #[test]
    fn stale_when_inputs_or_outputs_change() {
        let dir = crate::paths::target_dir().join("xtask-unit/fingerprint");
        let _ = fs::remove_dir_all(&dir);
        let pkg = dir.join("pkg");
        fs::create_dir_all(pkg.join("src")).unwrap();
        fs::create_dir_all(pkg.join("target")).unwrap();
        fs::write(pkg.join("src/main.rs"), "fn main() {}").unwrap();
        let out = dir.join("out/host-bin");
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        fs::write(&out, "binary v1").unwrap();
        let job = BuildJob {
            toolchain: Toolchain::Zigbuild,
            targets: vec![Target::find("x86_64-apple-darwin").unwrap()],
            cmd: Cmd::new("cargo", ["zigbuild"]),
            outputs: vec![out.clone()],
        };
        let stamps = dir.join("stamps");
        let digest = || source_digest(&dir, std::slice::from_ref(&pkg), "rustc 1.0").unwrap();

        let d1 = digest();
        assert!(!is_fresh(&stamps, &job, &d1), "no stamp yet");
        record(&stamps, &job, &d1).unwrap();
        assert!(is_fresh(&stamps, &job, &d1));

        fs::write(pkg.join("target/junk"), "build output").unwrap();
        assert_eq!(digest(), d1, "the package's own target/ is not an input");

        fs::write(pkg.join("src/main.rs"), "fn main() { }").unwrap();
        assert!(!is_fresh(&stamps, &job, &digest()), "a source edit");
        assert_ne!(
            source_digest(&dir, std::slice::from_ref(&pkg), "rustc 2.0").unwrap(),
            digest(),
            "a new compiler"
        );

        let d2 = digest();
        record(&stamps, &job, &d2).unwrap();
        fs::write(&out, "binary tampered").unwrap();
        assert!(
            !is_fresh(&stamps, &job, &d2),
            "an output changed behind our back"
        );

        record(&stamps, &job, &d2).unwrap();
        forget(&stamps, &job);
        assert!(!is_fresh(&stamps, &job, &d2), "forgotten before a rebuild");
    }
}
