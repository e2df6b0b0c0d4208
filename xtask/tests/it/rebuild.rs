//! `cargo xtask verify IMAGE:TAG --rebuild`: a copy of the checkout with one source line
//! changed in host-bin does not rebuild to the published digests, and the message names
//! the host binaries that differ; the classic engine cannot rebuild and says what is
//! needed. (That a tag just published rebuilds to the same digests is `repro.rs`: there
//! the rebuild is the second of its two clean builds.) On the containerd-store engine (Docker
//! Desktop's builder), whose BuildKit applies SOURCE_DATE_EPOCH.

use std::fs;
use std::process::Command;

use camino::Utf8Path;

use crate::support::registry::docker_ready;
use crate::support::*;
use xtask::target::ImagePlatform;

const TAG: &str = "0.1.0";

/// The rebuild compiles host-bin for six triples from nothing (the expensive part); the
/// publish reuses the dist tests' warm build.
#[test]
fn a_changed_line_names_the_binaries_that_differ() {
    if !dist_ready() {
        return;
    }
    let Some((host, _serial, reg)) = containerd_registry() else {
        return;
    };
    let image = reg.image("rebuild");
    let reference = format!("{image}:{TAG}");
    // The dist tests' warm target directory: the publish reuses their host builds.
    let target = target_dir("dist");
    // One SOURCE_DATE_EPOCH for every run, read once: a commit made while the test runs
    // would otherwise give the rebuild other times (and other PE link times) than the
    // publish. (`repro.rs` covers the default, the last commit's time.)
    let epoch = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root())
        .output()
        .unwrap();
    let epoch = String::from_utf8_lossy(&epoch.stdout).trim().to_owned();
    // Each phase's time goes to the log: this test is the suite's most expensive.
    let clock = std::time::Instant::now();
    let lap = |what: &str| eprintln!("rebuild test: {what} after {:.0?}", clock.elapsed());
    run_ok(
        xtask(
            &target,
            &[
                "dist",
                "--toolchain",
                "zigbuild",
                "--image",
                &image,
                "--tag",
                TAG,
                "--push",
            ],
        )
        .env("DOCKER_HOST", &host)
        .env("SOURCE_DATE_EPOCH", &epoch),
    );
    let published = reg.manifest_digest(&reference).expect("published");
    lap("dist --push");

    // A second checkout, one line of host-bin changed and not committed: with the
    // published SOURCE_DATE_EPOCH the times match, and only the bytes of what was
    // compiled differ. (Committed, the change would bring its own time: every config
    // time and the PE link times would differ too, the binaries still named.)
    let copy = target_dir("rebuild-copy");
    let src = copy.join("src");
    copy_checkout(&src);
    let app = src.join("host-bin/src/app.rs");
    let text = fs::read_to_string(&app).unwrap();
    let line = r#"Command::Version => format!("host-bin {VERSION}\n"),"#;
    assert!(
        text.contains(line),
        "host-bin's version line moved: update this test"
    );
    fs::write(
        &app,
        text.replace(line, &line.replace("{VERSION}", "{VERSION}+changed")),
    )
    .unwrap();
    // The copy's own xtask (`root()` is fixed when it compiles), in the directory every
    // other checkout's xtask shares; run as `cargo xtask` would, with CARGO_MANIFEST_DIR,
    // so it refuses to run if cargo handed it another checkout's build.
    let tool_target = checkouts_xtask_target();
    run_ok(
        Command::new("cargo")
            .args(["build", "--locked", "-p", "xtask"])
            .current_dir(&src)
            .env("CARGO_TARGET_DIR", &tool_target)
            .env_remove("CARGO_MANIFEST_DIR"),
    );
    lap("the copy's xtask built");
    let err = run_err(
        Command::new(tool_target.join("debug/xtask"))
            .args(["verify", &reference, "--rebuild"])
            .current_dir(&src)
            .env("CARGO_TARGET_DIR", copy.join("target"))
            .env("CARGO_MANIFEST_DIR", src.join("xtask"))
            .env("SOURCE_DATE_EPOCH", &epoch)
            .env("DOCKER_HOST", &host)
            .env("CI", "true"),
    );
    lap("the copy's verify --rebuild, different");
    assert!(err.contains("differs from the published image"), "{err}");
    for p in ImagePlatform::ALL {
        for bin in [
            "/darwin/host-bin",
            "/windows/host-bin.exe",
            "/linux/host-bin",
        ] {
            let named = format!("{p}: {bin}: size ");
            let line = err.lines().find(|l| l.trim_start().starts_with(&named));
            let line = line.unwrap_or_else(|| panic!("{p} {bin} not named:\n{err}"));
            assert!(
                line.contains(" (published) vs size ") && line.ends_with(" (rebuilt)"),
                "{line}"
            );
        }
        // Unchanged: the VM service, the UI, metadata.json, the config's times, labels and
        // command (only its layer's diff ID follows the files).
        for same in [
            "/vm-service:",
            "/ui/",
            "/metadata.json:",
            "config.created",
            "config.history",
            "config.config",
        ] {
            assert!(
                !err.contains(&format!("{p}: {same}")),
                "{p}: {same} reported as different:\n{err}"
            );
        }
    }
    assert_eq!(
        reg.manifest_digest(&reference).as_deref(),
        Some(published.as_str()),
        "verify --rebuild moved the published tag"
    );
}

/// The files of this checkout a clone would have (tracked, and new files not ignored),
/// with the UI's installed packages linked rather than installed again.
fn copy_checkout(dest: &Utf8Path) {
    let _ = fs::remove_dir_all(dest);
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "git ls-files failed");
    for rel in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = std::str::from_utf8(rel).unwrap();
        let from = root().join(rel);
        if !from.is_file() {
            continue; // deleted, not yet committed
        }
        let to = dest.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    std::os::unix::fs::symlink(root().join("ui/node_modules"), dest.join("ui/node_modules"))
        .unwrap();
}

/// The machine's own engine: the `docker` driver on the classic image store, BuildKit 0.8.
#[test]
fn the_classic_engine_says_it_cannot_rebuild() {
    if !docker_ready() {
        return;
    }
    let classic = Command::new("docker")
        .args(["info", "--format", "{{json .DriverStatus}}"])
        .env_remove("DOCKER_HOST")
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains("io.containerd.snapshotter"));
    if !require(
        "the classic image store on the default engine",
        classic,
        "run dockerd without the containerd-snapshotter feature",
    ) {
        return;
    }
    // Refused before anything is read or built: the registry does not even exist.
    let err = run_err(
        xtask(
            &target_dir("rebuild-classic"),
            &["verify", "127.0.0.1:9/nothing:0.1.0", "--rebuild"],
        )
        .env_remove("DOCKER_HOST")
        .env_remove("BUILDX_BUILDER"),
    );
    assert!(
        err.contains("cannot rebuild reproducibly")
            && err.contains("the classic image store")
            && err.contains("no OCI exporter")
            && err.contains("Needed: BuildKit 0.11+"),
        "{err}"
    );
    assert!(
        err.contains("BuildKit v0.8") || err.contains("Docker Engine 20."),
        "{err}"
    );
    assert!(
        !err.contains("verified") && !err.contains("rebuilt"),
        "{err}"
    );
}
