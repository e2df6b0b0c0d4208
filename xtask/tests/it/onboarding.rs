//! A contributor's first run and a release across runners, against the real tools:
//! doctor on this (provisioned) machine and with pieces taken away through the
//! environment, setup's repair and idempotence, and the two-runner dist + merge flow.

use std::fs;
use std::process::Command;

use crate::support::registry::{docker_ready, Registry};
use crate::support::*;
use camino::Utf8PathBuf;
use serde_json::Value;

fn doctor_json(cmd: impl std::borrow::BorrowMut<Command>) -> (bool, Value) {
    let out = run(cmd);
    let json: Value = serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    (out.status.success(), json)
}

fn check<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {json}"))
}

#[test]
fn doctor_passes_on_this_machine() {
    let _s = serial();
    if !docker_ready() {
        return;
    }
    let Some(reg) = Registry::start() else { return };
    let image = reg.image("doctor:0.1.0");
    let (ok, json) = doctor_json(xtask(
        &target_dir("doctor"),
        &["doctor", "--json", "--image", &image],
    ));
    assert!(ok && json["ok"] == true, "{json:#}");
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 13, "{json:#}");
    for c in checks {
        assert_ne!(c["status"], "fail", "{c}");
    }
    assert!(check(&json, "registry")["found"]
        .as_str()
        .unwrap()
        .contains(&reg.addr()));
    let out = run_ok(xtask(&target_dir("doctor"), &["doctor", "--image", &image]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("[FAIL]") && text.contains("[ok  ] docker"),
        "{text}"
    );
}

/// PATH with every `docker` executable hidden: directories that hold one are replaced by
/// mirrors of symlinks to everything else in them.
fn path_without_docker() -> String {
    let mirrors = target_dir("doctor").join("path-without-docker");
    let _ = fs::remove_dir_all(&mirrors);
    let mut out = Vec::new();
    for (i, dir) in std::env::split_paths(&std::env::var_os("PATH").unwrap()).enumerate() {
        if !dir.join("docker").exists() {
            out.push(dir);
            continue;
        }
        let mirror = mirrors.join(i.to_string());
        fs::create_dir_all(&mirror).unwrap();
        for e in fs::read_dir(&dir).unwrap().flatten() {
            if e.file_name() != "docker" {
                let _ =
                    std::os::unix::fs::symlink(e.path(), mirror.as_std_path().join(e.file_name()));
            }
        }
        out.push(mirror.into_std_path_buf());
    }
    std::env::join_paths(out).unwrap().into_string().unwrap()
}

#[test]
fn doctor_without_docker_names_the_fix() {
    let _s = serial();
    let path = path_without_docker();
    let no_docker = Command::new("sh")
        .args(["-c", "command -v docker"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        !no_docker.status.success(),
        "docker still on the mirrored PATH"
    );
    let (ok, json) = doctor_json(
        xtask(
            &target_dir("doctor"),
            &["doctor", "--json", "--image", "127.0.0.1:5/x:0.1.0"],
        )
        .env("PATH", &path),
    );
    assert!(!ok && json["ok"] == false, "{json:#}");
    let docker = check(&json, "docker");
    assert_eq!(docker["status"], "fail", "{docker}");
    assert!(
        docker["found"].as_str().unwrap().contains("not on PATH"),
        "{docker}"
    );
    assert!(
        docker["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install docker.io"),
        "{docker}"
    );
    assert_eq!(
        check(&json, "rust")["status"],
        "pass",
        "only docker's lines fail: {json:#}"
    );
    // The text form marks the line and prints the fix under it.
    let out = run(xtask(
        &target_dir("doctor"),
        &["doctor", "--image", "127.0.0.1:5/x:0.1.0"],
    )
    .env("PATH", &path));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success()
            && text.contains("[FAIL] docker")
            && text.contains("fix: apt-get install docker.io"),
        "{text}"
    );
}

#[test]
fn doctor_with_unreachable_registry() {
    let _s = serial();
    if !docker_ready() {
        return;
    }
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let image = format!("127.0.0.1:{port}/x:0.1.0");
    // A local `dist` needs no registry: a warning, and doctor still says dist can run.
    let (ok, json) = doctor_json(xtask(
        &target_dir("doctor"),
        &["doctor", "--json", "--image", &image],
    ));
    assert!(ok, "{json:#}");
    let reg = check(&json, "registry");
    assert_eq!(reg["status"], "warn", "{reg}");
    assert!(
        reg["found"]
            .as_str()
            .unwrap()
            .contains("needed only for `dist --push`"),
        "{reg}"
    );
    // Publishing does.
    let (ok, json) = doctor_json(xtask(
        &target_dir("doctor"),
        &["doctor", "--json", "--push", "--image", &image],
    ));
    assert!(!ok, "{json:#}");
    let reg = check(&json, "registry");
    assert_eq!(reg["status"], "fail", "{reg}");
    assert!(
        reg["found"].as_str().unwrap().contains("not reachable"),
        "{reg}"
    );
    assert!(
        reg["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{reg}"
    );
    assert_eq!(check(&json, "docker")["status"], "pass");
}

/// A rustup home of the test's own holding a copy of this machine's active toolchain
/// (hard links for the big files) minus target `without`.
///
/// Never remove a target from the real toolchain, and never let rustup write through a
/// hard link into it: on a channel toolchain (`stable`) `rustup target add/remove` fetches
/// the channel's newest manifest and may update the whole toolchain (seen here: 1.95.0
/// became 1.99.1, whose manifest no longer offers aarch64-pc-windows-gnullvm). So the
/// copy is named by its version (`1.95.0-<host>`), which pins rustup to that release's
/// manifest, and every file rustup rewrites is a file of the copy's own.
fn rustup_home_without(without: &str) -> (Utf8PathBuf, String) {
    let home = target_dir("doctor").join("rustup-home");
    let _ = fs::remove_dir_all(&home);
    fs::create_dir_all(home.join("toolchains")).unwrap();
    let out = |args: &[&str]| {
        String::from_utf8(Command::new("rustc").args(args).output().unwrap().stdout).unwrap()
    };
    let sysroot = Utf8PathBuf::from(out(&["--print", "sysroot"]).trim());
    let version = out(&["-V"]).split_whitespace().nth(1).unwrap().to_owned();
    let host = out(&["-vV"])
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_owned();
    let name = format!("{version}-{host}");
    let copy = home.join("toolchains").join(&name);
    let linked = Command::new("cp")
        .args(["-al", sysroot.as_str(), copy.as_str()])
        .status()
        .unwrap();
    assert!(linked.success(), "cannot hard-link {sysroot} into {copy}");
    fs::write(
        home.join("settings.toml"),
        format!("version = \"12\"\ndefault_toolchain = \"{name}\"\nprofile = \"minimal\"\n"),
    )
    .unwrap();

    let rustlib = copy.join("lib/rustlib");
    fs::remove_dir_all(rustlib.join(without)).unwrap();
    let _ = fs::remove_file(rustlib.join(format!("manifest-rust-std-{without}")));
    for entry in rustlib.read_dir_utf8().unwrap() {
        let path = entry.unwrap().path().to_owned();
        if path.is_file() {
            // Replace, never edit in place: the file is a hard link to the real one.
            let mut text = fs::read_to_string(&path).unwrap();
            match path.file_name() {
                Some("components") => {
                    text = text
                        .lines()
                        .filter(|l| *l != format!("rust-std-{without}"))
                        .map(|l| format!("{l}\n"))
                        .collect()
                }
                Some("multirust-config.toml") => {
                    let entry = format!("[[components]]\npkg = \"rust-std\"\ntarget = \"{without}\"\nis_extension = false\n\n");
                    assert!(
                        text.contains(&entry),
                        "unexpected multirust-config.toml layout:\n{text}"
                    );
                    text = text.replace(&entry, "");
                }
                _ => {}
            }
            fs::remove_file(&path).unwrap();
            fs::write(&path, text).unwrap();
        }
    }
    (home, name)
}

#[test]
fn missing_target_fails_doctor_and_setup_repairs_it_once() {
    let _s = serial();
    if !require("rustup", on_path("rustup"), "https://rustup.rs") {
        return;
    }
    const T: &str = "aarch64-pc-windows-gnullvm";
    let (home, toolchain) = rustup_home_without(T);
    // cargo's rustup proxy exported RUSTUP_TOOLCHAIN to this test: point it at the copy.
    let in_copy = |args: &[&str]| {
        let mut cmd = xtask(&target_dir("doctor"), args);
        cmd.env("RUSTUP_HOME", &home)
            .env("RUSTUP_TOOLCHAIN", &toolchain);
        cmd
    };
    let doctor = || {
        doctor_json(in_copy(&[
            "doctor",
            "--json",
            "--image",
            "127.0.0.1:5/x:0.1.0",
        ]))
    };
    let (ok, json) = doctor();
    assert!(!ok);
    let targets = check(&json, "rust targets");
    assert_eq!(targets["status"], "fail", "{targets}");
    assert!(targets["found"].as_str().unwrap().contains(T), "{targets}");
    assert!(
        targets["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("rustup target add {T}")),
        "{targets}"
    );
    assert_eq!(check(&json, "rust")["status"], "pass");

    let first = run_ok(in_copy(&["setup"]));
    assert!(String::from_utf8_lossy(&first.stderr).contains("setup: done"));
    let (_, json) = doctor();
    assert_eq!(check(&json, "rust targets")["status"], "pass", "{json:#}");

    let second = run_ok(in_copy(&["setup"]));
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(
        log.contains("setup: nothing to do") && log.contains("ok: every rust target is installed"),
        "{log}"
    );
    let _ = fs::remove_dir_all(&home);
}

#[test]
fn two_runners_then_merge() {
    let _s = serial();
    if !docker_ready() {
        return;
    }
    let Some(reg) = Registry::start() else { return };
    two_runners(&reg, None);
}

/// The release workflow on Docker Desktop's builder: each runner's image carries its
/// provenance, and the merged index keeps it beside its platform.
#[test]
fn two_runners_then_merge_with_the_containerd_store() {
    if !docker_ready() {
        return;
    }
    let Some((host, _s, reg)) = containerd_registry() else {
        return;
    };
    let merged = two_runners(&reg, Some(&host));
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            merged["attestations"][p]
                .to_string()
                .contains("slsa.dev/provenance"),
            "{p} lost its provenance in the merge: {merged:#}"
        );
    }
}

/// Two per-platform `dist --push` runs and a `merge` on the engine at `docker_host`.
fn two_runners(reg: &Registry, docker_host: Option<&str>) -> Value {
    let image = reg.image("scaleout");
    // One target dir for both "runners": they compile disjoint triples anyway.
    let target = target_dir("dist");
    let xtask = |target: &Utf8PathBuf, args: &[&str]| {
        let mut cmd = xtask(target, args);
        if let Some(h) = docker_host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    };
    let dist_platform = |target: &Utf8PathBuf, image: &str, platform: &str| -> Value {
        let out = run_ok(xtask(
            target,
            &[
                "dist",
                "--platform",
                platform,
                "--push",
                "--image",
                image,
                "--tag",
                "0.3.0",
                "--json",
            ],
        ));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let arm = dist_platform(&target, &image, "linux/arm64");
    let amd = dist_platform(&target, &image, "linux/amd64");
    assert_eq!(arm["reference"], format!("{image}:0.3.0-arm64"));
    assert_eq!(amd["reference"], format!("{image}:0.3.0-amd64"));
    assert!(
        !reg.tag_exists(&format!("{image}:0.3.0")),
        "no release tag before merge"
    );

    // A merge that lacks a platform is refused.
    let err = run_err(xtask(
        &target,
        &[
            "merge",
            &format!("{image}:0.3.0"),
            &format!("{image}:0.3.0-arm64"),
        ],
    ));
    assert!(err.contains("no source provides linux/amd64"), "{err}");
    assert!(!reg.tag_exists(&format!("{image}:0.3.0")));

    let release = format!("{image}:0.3.0");
    let out = run_ok(xtask(
        &target,
        &[
            "merge",
            &release,
            &format!("{image}:0.3.0-amd64"),
            &format!("{image}:0.3.0-arm64"),
            "--json",
        ],
    ));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = reg
        .manifest_digest(&release)
        .expect("release tag exists after merge");
    assert_eq!(merged["index_digest"], digest);
    assert_eq!(
        merged["platforms"]["linux/arm64"],
        arm["platforms"]["linux/arm64"]
    );
    assert_eq!(
        merged["platforms"]["linux/amd64"],
        amd["platforms"]["linux/amd64"]
    );

    run_ok(xtask(&target, &["verify", &release]));

    let sources = [
        format!("{image}:0.3.0-amd64"),
        format!("{image}:0.3.0-arm64"),
    ];
    let err = run_err(xtask(
        &target,
        &["merge", &release, &sources[0], &sources[1]],
    ));
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        reg.manifest_digest(&release).as_deref(),
        Some(digest.as_str()),
        "a refused merge moved the tag"
    );
    run_ok(xtask(
        &target,
        &["merge", &release, &sources[0], &sources[1], "--force"],
    ));
    merged
}
