//! Reproducible images (issue 18): two clean `dist --push` runs of one commit, from clones
//! at different paths (one under `umask 077`), with BuildKit's cache pruned between them,
//! publish the same per-platform manifest digests on the containerd-store engine (whose
//! BuildKit honours SOURCE_DATE_EPOCH); a per-platform build (`--platform`, one CI
//! runner's job) gets that same digest again. On the classic engine `dist` says once that
//! it cannot, and `--json` says `"reproducible": false` (see `dist::publish_and_check`).
//!
//! What is fresh and what is shared, to keep this affordable on two cores: everything the
//! image is made of (host binaries, the VM service, the UI bundle, the staged tree) is
//! built in a new target directory per clone. Shared are only what a user's machine
//! shares between checkouts too: the xtask's own dependencies (one target directory for
//! the tool, so the 45 s of its crates.io dependencies compile once; its own three crates
//! recompile per clone path), zig's global cache, and `ui/node_modules` (hard links of an
//! installed copy, as `npm ci` of the same lock file would produce).

use std::process::Command;

use camino::Utf8Path;
use serde_json::Value;

use crate::support::registry::{Options, Registry};
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

/// `dist --push --json` in the clone at `dir`, in its own target directory, which starts
/// empty when `clean`.
fn dist_in(
    (dir, umask): (&Utf8Path, &str),
    clean: bool,
    tool_target: &Utf8Path,
    host: &str,
    args: &[&str],
) -> Value {
    let target = Utf8Path::new(&format!("{dir}-target")).to_owned();
    if clean {
        let _ = std::fs::remove_dir_all(&target);
    }
    let xtask = tool_target.join("debug/xtask");
    let out = run_ok(
        with_umask(umask, xtask.as_str())
            .args([
                "dist",
                "--toolchain",
                "zigbuild",
                "--tag",
                TAG,
                "--push",
                "--json",
            ])
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", &target)
            .env("DOCKER_HOST", host)
            .env("CI", "true")
            // As `cargo xtask` would: the binary refuses to run when it was built from
            // another checkout (the two clones share `tool_target`, and cargo hashes a path
            // package without its path), so each clone is proven to stage its own sources.
            .env("CARGO_MANIFEST_DIR", dir.join("xtask"))
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("not reproducible"), "{log}");
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
fn two_clean_clones_publish_the_same_platform_digests() {
    if !dist_ready() {
        return;
    }
    let Some(host) = containerd_engine() else {
        return;
    };
    let _s = serial();
    let Some(reg) = Registry::start_with(Options {
        in_memory: true,
        ..Options::default()
    }) else {
        return;
    };
    let base = target_dir("repro");
    let tool_target = target_dir("repro-xtask");
    // Two paths of different depth and length; the second clone and its builds with a
    // umask that gives group and others nothing.
    let runs = [("a", "022"), ("elsewhere/clone-b", "077")];
    let mut published = Vec::new();
    let mut node_modules = root().join("ui/node_modules");
    let commit = head();
    for (i, (path, umask)) in runs.into_iter().enumerate() {
        let dir = base.join(path);
        clone((&dir, umask), &commit, Some(&node_modules), &tool_target);
        prune_build_cache(&host);
        let image = reg.image(&format!("repro-{i}"));
        let json = dist_in(
            (&dir, umask),
            true,
            &tool_target,
            &host,
            &["--image", &image],
        );
        assert_eq!(json["reproducible"], true, "{json:#}");
        // What the registry holds, not only what the xtask says it pushed.
        let raw = reg.raw_manifest(&format!("{image}:{TAG}")).unwrap();
        let index: Value = serde_json::from_slice(&raw).unwrap();
        for (p, digest) in json["platforms"].as_object().unwrap() {
            let listed = index["manifests"].as_array().unwrap().iter().any(|m| {
                m["digest"] == *digest
                    && format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"])
                        .replace('"', "")
                        == *p
            });
            assert!(listed, "{p} {digest} is not in {index:#}");
        }
        published.push((json["platforms"].clone(), json["checksums"].clone()));
        node_modules = dir.join("ui/node_modules");
    }
    let (first, second) = (&published[0], &published[1]);
    assert_eq!(first.1, second.1, "the staged trees differ");
    assert_eq!(
        first.0, second.0,
        "two clean builds of one commit published different per-platform digests"
    );
    assert_eq!(first.0.as_object().unwrap().len(), 2, "{:#}", first.0);

    // One CI runner's job: one platform, its own build (the per-platform strategy), cache
    // pruned again: the same manifest as inside the multi-platform build's index. The
    // second clone's target directory is reused: a third cold compile (minutes on two
    // busy cores) would test nothing the two above did not.
    prune_build_cache(&host);
    let (path, umask) = runs[1];
    let one = dist_in(
        (&base.join(path), umask),
        false,
        &tool_target,
        &host,
        &[
            "--image",
            &reg.image("repro-amd64"),
            "--platform",
            "linux/amd64",
        ],
    );
    assert_eq!(
        one["platforms"]["linux/amd64"], first.0["linux/amd64"],
        "{one:#}"
    );
}
