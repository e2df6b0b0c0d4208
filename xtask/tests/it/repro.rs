//! Reproducible images (issue 18): a clean `dist --push` from one clone of a commit, and a
//! clean `verify --rebuild` of that tag from a second clone at another path under
//! `umask 077`, BuildKit's cache pruned between them, get the same per-platform manifest
//! digests on the containerd-store engine (whose BuildKit honours SOURCE_DATE_EPOCH): the
//! rebuild passes only when every platform's digest is the published one. A per-platform
//! build (`--platform`, one CI runner's job) publishes that same digest again. On the
//! classic engine `dist` says once that it cannot, and `--json` says `"reproducible":
//! false` (see `dist::publish_and_check`).
//!
//! What is fresh and what is shared, to keep this affordable on two cores: everything the
//! image is made of (host binaries, the VM service, the UI bundle, the staged tree) is
//! built in a new target directory per clone (the rebuild's own scratch one, from
//! nothing). Shared are only what a user's machine shares between checkouts too: the
//! xtask's own dependencies (`checkouts_xtask_target`), zig's global cache, and
//! `ui/node_modules` (hard links of an installed copy, as `npm ci` of the same lock file
//! would produce).

use std::process::Command;

use camino::Utf8Path;
use serde_json::Value;

use crate::support::*;

const TAG: &str = "0.1.0";

/// `sh -c 'umask U; exec "$@"'`: the command runs with that umask, as another user's would.
fn with_umask(umask: &str, program: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("umask {umask} && exec \"$@\""),
        "sh",
        program,
    ]);
    cmd
}

/// This repository's HEAD, read once: a commit made while the test runs must not give the
/// second clone another commit (and so another SOURCE_DATE_EPOCH).
fn head() -> String {
    let out = run_ok(Command::new("git").args(["-C", root().as_str(), "rev-parse", "HEAD"]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A clone of this repository at `commit` in `dir` under `umask`, with `ui/node_modules`
/// linked from `node_modules` when there is one, and its xtask built in `tool_target`.
fn clone(
    (dir, umask): (&Utf8Path, &str),
    commit: &str,
    node_modules: Option<&Utf8Path>,
    tool_target: &Utf8Path,
) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    run_ok(with_umask(umask, "git").args(["clone", "--quiet", root().as_str(), dir.as_str()]));
    run_ok(with_umask(umask, "git").args([
        "-C",
        dir.as_str(),
        "checkout",
        "--quiet",
        "--detach",
        commit,
    ]));
    if let Some(nm) = node_modules.filter(|nm| nm.is_dir()) {
        run_ok(Command::new("cp").args(["-al", nm.as_str(), dir.join("ui").as_str()]));
    }
    run_ok(
        with_umask(umask, "cargo")
            .args(["build", "--quiet", "--locked", "-p", "xtask"])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", tool_target)
            .env_remove("CARGO_MANIFEST_DIR"),
    );
}

/// The clone's own xtask (built by `clone`) with `args`, in the clone at `dir`, in its
/// own target directory (emptied first when `clean`), on the engine at `host`.
fn xtask_in(
    (dir, umask): (&Utf8Path, &str),
    clean: bool,
    host: &str,
    args: &[&str],
) -> std::process::Output {
    let target = Utf8Path::new(&format!("{dir}-target")).to_owned();
    if clean {
        let _ = std::fs::remove_dir_all(&target);
    }
    let xtask = checkouts_xtask_target().join("debug/xtask");
    let out = run(with_umask(umask, xtask.as_str())
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("DOCKER_HOST", host)
        .env("CI", "true")
        // As `cargo xtask` would: the binary refuses to run when it was built from
        // another checkout (the clones share the tool's target directory, and cargo hashes
        // a path package without its path), so each clone is proven to build its own sources.
        .env("CARGO_MANIFEST_DIR", dir.join("xtask"))
        // The default: the last commit's time.
        .env_remove("SOURCE_DATE_EPOCH"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("not reproducible"), "{log}");
    out
}

/// `dist --push --json` with `args` in the clone at `dir`.
fn dist_in(clone: (&Utf8Path, &str), clean: bool, host: &str, args: &[&str]) -> Value {
    let mut all = vec![
        "dist",
        "--toolchain",
        "zigbuild",
        "--tag",
        TAG,
        "--push",
        "--json",
    ];
    all.extend(args);
    let out = xtask_in(clone, clean, host, &all);
    assert!(out.status.success(), "dist failed: see its output above");
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

/// Forgets everything BuildKit cached on the engine at `host`.
fn prune_build_cache(host: &str) {
    run_ok(
        Command::new("docker")
            .args(["buildx", "prune", "--all", "--force"])
            .env("DOCKER_HOST", host),
    );
}

#[test]
fn two_clean_clones_build_the_same_platform_digests() {
    if !dist_ready() {
        return;
    }
    let Some((host, _serial, reg)) = containerd_registry() else {
        return;
    };
    let base = target_dir("repro");
    let tool_target = checkouts_xtask_target();
    let commit = head();
    let image = reg.image("repro");
    let reference = format!("{image}:{TAG}");

    // The first clone publishes from a fresh target directory.
    let a = (base.join("a"), "022");
    let a = (a.0.as_path(), a.1);
    clone(
        a,
        &commit,
        Some(&root().join("ui/node_modules")),
        &tool_target,
    );
    prune_build_cache(&host);
    let json = dist_in(a, true, &host, &["--image", &image]);
    assert_eq!(json["reproducible"], true, "{json:#}");
    // What the registry holds, not only what the xtask says it pushed.
    let raw = reg.raw_manifest(&reference).unwrap();
    let published = reg.manifest_digest(&reference);
    let index: Value = serde_json::from_slice(&raw).unwrap();
    let platforms = json["platforms"].as_object().unwrap();
    assert_eq!(platforms.len(), 2, "{json:#}");
    for (p, digest) in platforms {
        let listed = index["manifests"].as_array().unwrap().iter().any(|m| {
            m["digest"] == *digest
                && format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"])
                    .replace('"', "")
                    == *p
        });
        assert!(listed, "{p} {digest} is not in {index:#}");
    }

    // One CI runner's job: one platform, its own build (the per-platform strategy), cache
    // pruned again: the same manifest as inside the multi-platform build's index. Run now,
    // while the shared tool directory holds this clone's xtask; its target directory is
    // reused: a third cold compile (minutes on two busy cores) would test nothing new.
    prune_build_cache(&host);
    let one = dist_in(
        a,
        false,
        &host,
        &[
            "--image",
            &reg.image("repro-amd64"),
            "--platform",
            "linux/amd64",
        ],
    );
    assert_eq!(
        one["platforms"]["linux/amd64"], json["platforms"]["linux/amd64"],
        "{one:#}"
    );

    // The second clone, at a deeper and longer path, everything under a umask that gives
    // group and others nothing, cache pruned: its `verify --rebuild` builds the image from
    // nothing (a scratch target directory, `--no-cache`) and passes only when each
    // platform's manifest digest is the one the first clone published.
    let b = (base.join("elsewhere/clone-b"), "077");
    let b = (b.0.as_path(), b.1);
    clone(b, &commit, Some(&a.0.join("ui/node_modules")), &tool_target);
    prune_build_cache(&host);
    let out = xtask_in(b, true, &host, &["verify", &reference, "--rebuild"]);
    assert!(
        out.status.success(),
        "two clean builds of one commit got different per-platform digests: see above"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (p, digest) in platforms {
        let digest = digest.as_str().unwrap();
        assert!(
            stdout.contains(&format!(
                "{p}: {digest}: rebuilt from this checkout, identical"
            )),
            "{p}: {stdout}"
        );
    }
    assert!(
        !Utf8Path::new(&format!("{}-target", b.0))
            .join("dist/rebuild")
            .exists(),
        "a rebuild that matched leaves its scratch target directory behind"
    );
    assert_eq!(
        reg.manifest_digest(&reference),
        published,
        "verify --rebuild moved the published tag"
    );
}
