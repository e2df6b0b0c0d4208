//! `cargo xtask dist` against the real tools: a real registry (`docker-registry`), the
//! real Docker daemon and buildx, real zigbuild compiles. What the registry ends up
//! holding is read back independently (raw index, exported file systems, the registry's
//! own digests) rather than trusted from xtask's output.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::registry::{Options, Registry};
use crate::support::*;
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xtask::binfmt::{self, Linkage};
use xtask::digest::{sha256_bytes_hex, sha256_hex};
use xtask::target::{ImagePlatform, Os, TARGETS};

const TAG: &str = "0.1.0";

/// The target directory the warm tests share: host binaries compile once.
fn warm_target() -> Utf8PathBuf {
    target_dir("dist")
}

/// A target directory that starts empty.
fn fresh_target(name: &str) -> Utf8PathBuf {
    let t = target_dir(name);
    let _ = fs::remove_dir_all(&t);
    t
}

fn dist(target: &Utf8Path, image: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "dist",
        "--toolchain",
        "zigbuild",
        "--image",
        image,
        "--tag",
        TAG,
    ];
    args.extend_from_slice(extra);
    xtask(target, &args)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The index's platforms -> manifest digests; attestation manifests aside, nothing else
/// may be listed.
fn index_platforms(raw: &[u8]) -> BTreeMap<String, String> {
    let index: Value = serde_json::from_slice(raw).expect("the index is JSON");
    let mut out = BTreeMap::new();
    for m in index["manifests"]
        .as_array()
        .expect("an index, not a manifest")
    {
        if m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest" {
            continue;
        }
        let p = format!(
            "{}/{}",
            m["platform"]["os"].as_str().unwrap(),
            m["platform"]["architecture"].as_str().unwrap()
        );
        let d = m["digest"].as_str().unwrap().to_owned();
        assert!(out.insert(p.clone(), d).is_none(), "{p} listed twice");
    }
    out
}

/// Checks an exported variant from the binaries' headers: under darwin/, windows/ and
/// linux/ there is exactly one binary per target of the variant's arch, in its OS's
/// directory, of its format and CPU (Linux: static), mode 0755. Returns path -> sha256.
fn check_exported_variant(p: ImagePlatform, fs_root: &Utf8Path) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for os in Os::ALL {
        let dir = fs_root.join(os.dir());
        for file in xtask::digest::walk_files(&dir).unwrap_or_default() {
            let rel = file.strip_prefix(fs_root).unwrap().to_string();
            let info = binfmt::sniff_file(&file).unwrap_or_else(|e| panic!("{p}: /{rel}: {e:#}"));
            let t = TARGETS
                .iter()
                .find(|t| Some(t.expected()) == info.cpu().map(|cpu| (info.format, cpu)))
                .unwrap_or_else(|| panic!("{p}: /{rel}: {info} is no target of ours"));
            assert_eq!(
                (t.arch, t.os),
                (p.0, os),
                "{p}: /{rel} holds {info}, a binary for {}",
                t.triple
            );
            if os == Os::Linux {
                assert_eq!(info.linkage, Linkage::Static, "{p}: /{rel} must be static");
            }
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o755, "{p}: /{rel} mode {mode:o}");
            assert!(seen.insert(t.triple), "{p}: two binaries for {}", t.triple);
            sums.insert(rel, sha256_hex(&file).unwrap());
        }
    }
    let want: BTreeSet<&str> = p.targets().map(|t| t.triple).collect();
    assert_eq!(seen, want, "{p}: the binaries found by their headers");
    // The VM service, at the root where the image's CMD names it: static, the variant's CPU.
    let service = fs_root.join("vm-service");
    let info = binfmt::sniff_file(&service).unwrap_or_else(|e| panic!("{p}: /vm-service: {e:#}"));
    let linux = p.targets().find(|t| t.os == Os::Linux).unwrap();
    let (format, cpu) = linux.expected();
    assert_eq!(
        (info.format, info.cpu()),
        (format, Some(cpu)),
        "{p}: /vm-service is {info}"
    );
    assert_eq!(
        info.linkage,
        Linkage::Static,
        "{p}: /vm-service must be static"
    );
    let mode = fs::metadata(&service).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "{p}: /vm-service mode {mode:o}");
    sums.insert("vm-service".to_owned(), sha256_hex(&service).unwrap());
    let meta: Value = serde_json::from_slice(
        &fs::read(fs_root.join("metadata.json")).expect("metadata.json in the image"),
    )
    .expect("metadata.json is JSON");
    let ours: Value =
        serde_json::from_slice(&fs::read(root().join("extension/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta, ours, "{p}: /metadata.json");
    for f in ["icon.svg", "ui/index.html"] {
        assert!(fs_root.join(f).is_file(), "{p}: /{f} missing");
    }
    sums
}

#[test]
fn push_publishes_a_verified_two_platform_index() {
    if !dist_ready() {
        return;
    }
    let _serial = serial();
    let Some(reg) = Registry::start() else { return };
    publish_and_check(&reg, None, "per-platform");
}

/// Docker Desktop's builder: the `docker` driver on the containerd image store builds both
/// platforms in one build and attaches provenance.
#[test]
fn push_with_the_containerd_store_builds_once_and_attests() {
    if !dist_ready() {
        return;
    }
    let Some(host) = containerd_engine() else {
        return;
    };
    let _serial = serial();
    let Some(reg) = Registry::start_with(Options {
        in_memory: true,
        ..Options::default()
    }) else {
        return;
    };
    let json = publish_and_check(&reg, Some(&host), "multi-platform");
    for p in ImagePlatform::ALL {
        let types = json["attestations"][p.to_string()].to_string();
        assert!(types.contains("slsa.dev/provenance"), "{p}: {json:#}");
    }
}

/// `dist --push --json` (after its `--dry-run`) on the engine at `docker_host` (the
/// default one when `None`), then everything it published, read back independently.
fn publish_and_check(reg: &Registry, docker_host: Option<&str>, strategy: &str) -> Value {
    let target = warm_target();
    let image = reg.image("hostfacts");
    let on_engine = |mut cmd: Command| {
        if let Some(h) = docker_host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    };
    let dry = run_ok(on_engine(dist(&target, &image, &["--push", "--dry-run"])));
    let out = run_ok(on_engine(dist(&target, &image, &["--push", "--json"])));
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON on stdout");
    let reference = format!("{image}:{TAG}");
    let log = stderr(&out);
    assert!(
        log.contains(&format!("image strategy: {strategy} ")),
        "expected the {strategy} strategy:\n{log}"
    );
    dry_run_image_steps_are_what_ran(&String::from_utf8_lossy(&dry.stdout), &log);
    // The classic engine's BuildKit (0.8) ignores SOURCE_DATE_EPOCH: said once, naming
    // what was found and what is needed; nothing of the kind where it is honoured.
    let not = log.matches("not reproducible").count();
    if strategy == "per-platform" {
        assert_eq!(not, 1, "{log}");
        assert!(
            log.contains("has BuildKit v0.8") && log.contains("need BuildKit 0.11+"),
            "{log}"
        );
    } else {
        assert_eq!(not, 0, "{log}");
    }

    // The index, as the registry serves it.
    let raw = reg
        .raw_manifest(&reference)
        .expect("the release tag exists");
    let index_digest = format!("sha256:{}", sha256_bytes_hex(&raw));
    assert_eq!(
        reg.content_digest("hostfacts", TAG).as_deref(),
        Some(index_digest.as_str()),
        "the registry's own digest of the tag"
    );
    let platforms = index_platforms(&raw);
    assert_eq!(
        platforms.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"],
        "{}",
        String::from_utf8_lossy(&raw)
    );

    // Each variant's file system.
    let mut checksums = serde_json::Map::new();
    for p in ImagePlatform::ALL {
        let digest = &platforms[&p.to_string()];
        let fs_root = export_fs(
            &format!("{image}@{digest}"),
            p,
            &target_dir("dist-export").join(p.stage_name()),
        );
        let sums = check_exported_variant(p, &fs_root);
        let listed = fs::read_to_string(fs_root.join("SHA256SUMS")).unwrap();
        let listed: BTreeMap<String, String> = listed
            .lines()
            .map(|l| l.split_once("  ").unwrap())
            .map(|(h, f)| (f.to_owned(), h.to_owned()))
            .collect();
        assert_eq!(listed, sums, "{p}: /SHA256SUMS vs the files");
        checksums.insert(p.to_string(), serde_json::to_value(&sums).unwrap());
    }

    // --json says exactly what the registry holds.
    let want = serde_json::json!({
        "image": image,
        "tag": TAG,
        "reference": reference,
        "pushed": true,
        // The containerd store's engine (26.1) honours SOURCE_DATE_EPOCH; the classic
        // engine's BuildKit (0.8) does not.
        "reproducible": strategy == "multi-platform",
        "index_digest": index_digest,
        "platforms": platforms,
        "attestations": json["attestations"],
        "checksums": checksums,
        "smoke": json["smoke"],
        "service": json["service"],
        "vendored": {},
    });
    smoke_ran_what_this_machine_can(&json["smoke"]);
    crate::vm::service_probed(&json["service"]);
    assert_eq!(json, want, "--json output vs the registry");
    let attested = json["attestations"].as_object().unwrap();
    assert_eq!(
        attested.is_empty(),
        strategy == "per-platform",
        "attestations exactly where the builder can attach them: {json:#}"
    );

    // And the verifier agrees, from a clean target directory.
    let out = run_ok(on_engine(xtask(
        &fresh_target("dist-verify"),
        &["verify", &reference],
    )));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("verified index {index_digest}")),
        "{stdout}"
    );
    if !attested.is_empty() {
        assert!(
            stdout.contains("(attested: https://slsa.dev/provenance"),
            "{stdout}"
        );
    }
    json
}

/// `--json`'s smoke record: every binary this x86_64 Linux machine can run passed (host-bin
/// natively, aarch64 under qemu-user, x86_64 Windows under wine), the rest say why not.
fn smoke_ran_what_this_machine_can(smoke: &Value) {
    if xtask::target::Arch::host() != Some(xtask::target::Arch::Amd64) {
        return;
    }
    let outcome = |p: &str, path: &str| -> String {
        let entry = smoke[p]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["path"] == path))
            .unwrap_or_else(|| panic!("no smoke result for {p} {path}: {smoke:#}"));
        entry["outcome"].as_str().unwrap().to_owned()
    };
    for (p, path, want) in [
        ("linux/amd64", "linux/host-bin", "passed"),
        ("linux/amd64", "windows/host-bin.exe", "passed"),
        ("linux/amd64", "darwin/host-bin", "not_run"),
        ("linux/arm64", "linux/host-bin", "passed"),
        ("linux/arm64", "windows/host-bin.exe", "not_run"),
        ("linux/arm64", "darwin/host-bin", "not_run"),
    ] {
        assert_eq!(outcome(p, path), want, "{p} {path}: {smoke:#}");
    }
}

/// Every image command `--dry-run` printed ran, in that order, with its placeholders
/// (`<digest of linux/amd64>`, `<verified digest>`) filled by real digests.
fn dry_run_image_steps_are_what_ran(plan: &str, log: &str) {
    let planned: Vec<(&str, String)> = plan
        .split_once("\nimage ")
        .expect("the plan has an image section")
        .1
        .lines()
        .filter_map(|l| l.trim().strip_prefix('['))
        .filter_map(|l| l.split_once("] "))
        // The plan quotes words a shell would split (`'repo@<digest of linux/amd64>'`); the
        // filled command needs no quotes.
        .map(|(name, cmd)| {
            (
                name,
                cmd.trim_end_matches(" (side by side)").replace('\'', ""),
            )
        })
        .collect();
    assert!(planned.len() >= 3, "too few image steps planned:\n{plan}");
    let ran: Vec<&str> = log.lines().collect();
    let mut at = 0;
    for (name, cmd) in planned {
        let prefix = format!("[{name}] $ ");
        let found = ran[at..].iter().position(|l| {
            l.strip_prefix(&prefix)
                .is_some_and(|r| same_with_digests(&cmd, r))
        });
        let Some(i) = found else {
            panic!("planned `[{name}] {cmd}` did not run (in order) in:\n{log}");
        };
        // Side-by-side jobs may log in either order: only sequential steps move on.
        at += i.saturating_sub(1);
    }
}

/// `planned` with each `<...>` placeholder standing for one `sha256:<64 hex>` in `ran`.
fn same_with_digests(planned: &str, ran: &str) -> bool {
    let mut rest = ran;
    let mut parts = planned.split('<');
    let first = parts.next().unwrap_or_default();
    let Some(r) = rest.strip_prefix(first) else {
        return false;
    };
    rest = r;
    for part in parts {
        let Some((_, literal)) = part.split_once('>') else {
            return false;
        };
        let digest_len = "sha256:".len() + 64;
        if !rest.starts_with("sha256:") || rest.len() < digest_len {
            return false;
        }
        let Some(r) = rest[digest_len..].strip_prefix(literal) else {
            return false;
        };
        rest = r;
    }
    rest.is_empty()
}

#[test]
fn an_existing_tag_is_refused_unless_forced() {
    if !dist_ready() {
        return;
    }
    let _serial = serial();
    let Some(reg) = Registry::start() else { return };
    let target = warm_target();
    let image = reg.image("taken");
    let reference = format!("{image}:{TAG}");
    run_ok(dist(&target, &image, &["--push"]));
    let before = reg.manifest_digest(&reference).expect("published");
    let tags_before = reg.tags("taken");

    let err = run_err(dist(&target, &image, &["--push"]));
    assert!(
        err.contains(&format!("{reference} already exists")) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        reg.manifest_digest(&reference).as_deref(),
        Some(before.as_str()),
        "a refused run moved the tag"
    );
    assert_eq!(
        reg.tags("taken"),
        tags_before,
        "a refused run pushed something"
    );

    let out = run_ok(dist(&target, &image, &["--push", "--force"]));
    assert!(stderr(&out).contains("--force"), "no word about replacing");
    // Nothing changed since this checkout published the tag: nothing is pushed again.
    assert!(
        stderr(&out).contains("already holds this exact build"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        reg.manifest_digest(&reference).as_deref(),
        Some(before.as_str())
    );
    assert_eq!(
        reg.tags("taken"),
        tags_before,
        "an identical --force run pushed something"
    );

    // A different build with --force does replace it, verified like any other: here a
    // metadata.json whose tab has another title, so the image content differs.
    let ours = fs::read_to_string(root().join("extension/metadata.json")).unwrap();
    let changed = ours.replacen("\"title\": \"", "\"title\": \"Forced ", 1);
    assert_ne!(changed, ours);
    let meta = metadata_variant("force-replaces", &changed);
    let out = run_ok(dist(
        &target,
        &image,
        &["--push", "--force", "--metadata", meta.as_str()],
    ));
    assert!(
        !stderr(&out).contains("already holds this exact build"),
        "{}",
        stderr(&out)
    );
    let after = reg.manifest_digest(&reference).expect("still published");
    assert_ne!(
        after, before,
        "--force with a different build left the old index"
    );
}

#[test]
fn unreachable_registry_fails_clearly_and_publishes_nothing() {
    if !dist_ready() {
        return;
    }
    let hosts = [None, containerd_engine()];
    let _serial = serial();
    for host in hosts {
        unreachable_registry_on(host.as_deref());
    }
}

fn unreachable_registry_on(docker_host: Option<&str>) {
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let image = reg.image("offline");
    reg.stop();
    let mut cmd = dist(&warm_target(), &image, &["--push"]);
    if let Some(h) = docker_host {
        cmd.env("DOCKER_HOST", h);
    }
    let err = run_err(cmd);
    assert!(
        err.contains(&format!("registry {} is not reachable", reg.addr())),
        "{err}"
    );
    reg.restart();
    assert!(!reg.tag_exists(&format!("{image}:{TAG}")));
    assert_eq!(reg.tags("offline"), Vec::<String>::new());
}

#[test]
fn unreachable_docker_daemon_fails_before_compiling() {
    if !dist_ready() {
        return;
    }
    let _serial = serial();
    let target = fresh_target("dist-no-daemon");
    let err = run_err(
        dist(&target, "127.0.0.1:1/xtask-no-daemon", &["--push"])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    );
    assert!(err.contains("Docker daemon"), "{err}");
    for t in TARGETS {
        assert!(
            !target.join(t.triple).exists(),
            "{} was compiled before the daemon was checked",
            t.triple
        );
    }
    assert!(!target.join("dist/stage").exists());
}

#[test]
fn sigint_mid_build_leaves_nothing_a_later_run_trusts() {
    if !dist_ready() {
        return;
    }
    let _serial = serial();
    let Some(reg) = Registry::start() else { return };
    let target = fresh_target("dist-sigint");
    let image = reg.image("interrupted");
    let reference = format!("{image}:{TAG}");

    let mut child = dist(&target, &image, &["--push"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("cannot start xtask");
    let pgid = child.id();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("xtask: {line}");
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let started = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) if l.contains("[zigbuild") || l.contains("$ cargo") => break true,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    if !started {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = child.wait();
        panic!("no build started: {:#?}", reader.join().unwrap());
    }
    // Let the compilers get going, then interrupt the whole group, as Ctrl-C would.
    std::thread::sleep(Duration::from_secs(2));
    let kill = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(kill.success(), "kill -INT -{pgid}");
    eprintln!("SIGINT sent to process group {pgid}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            panic!("xtask still running 60s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = reader.join().unwrap();
    eprintln!("the interrupted run exited {status}");
    assert!(!status.success(), "interrupted run exited {status}");
    assert!(
        !log.iter().any(|l| l.contains("published")),
        "the interrupted run published: {log:#?}"
    );
    // Nothing of the group may outlive it (a compiler still writing into the target dir).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            panic!("processes of the interrupted run still alive 30s after it exited");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    assert!(
        !reg.tag_exists(&reference),
        "{reference} exists after SIGINT"
    );
    assert!(
        !target.join("dist/stage").exists(),
        "an interrupted first run left a stage tree"
    );

    // The next run in the same target directory does not trust what was left.
    let out = run_ok(dist(&target, &image, &["--push", "--json"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["index_digest"].as_str(),
        reg.manifest_digest(&reference).as_deref()
    );
    let leftovers: Vec<String> = fs::read_dir(target.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".stage-"))
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "leftover stage directories"
    );
}

/// Removes a local image when the test ends, passed or not.
struct LocalImage(String);

impl Drop for LocalImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "--force", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn local_inspect(reference: &str) -> Option<Value> {
    let out = Command::new("docker")
        .args(["image", "inspect", reference])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone())
}

#[test]
fn local_dist_loads_this_machines_variant() {
    if !dist_ready() {
        return;
    }
    let Some(host) = xtask::target::Arch::host() else {
        eprintln!("SKIPPED: this machine's CPU is neither amd64 nor arm64");
        return;
    };
    let _serial = serial();
    let image = "127.0.0.1:1/xtask-local-test";
    let reference = format!("{image}:{TAG}");
    // Left over from an earlier, aborted run: gone now, and again when this test ends.
    drop(LocalImage(reference.clone()));
    let _cleanup = LocalImage(reference.clone());
    // The registry is unreachable (port 1): doctor warns but says dist can run, and it does.
    let out = run_ok(xtask(&warm_target(), &["doctor", "--image", image]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[warn] registry")
            && text.contains("everything `cargo xtask dist` needs is here"),
        "{text}"
    );
    let out = run_ok(dist(&warm_target(), image, &["--json"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["pushed"], false);
    assert_eq!(json["index_digest"], Value::Null);

    crate::vm::service_probed(&json["service"]);
    let config = local_inspect(&reference).expect("the release tag is in the local store");
    assert_eq!(
        config["Config"]["Cmd"],
        serde_json::json!([
            "/vm-service",
            "--socket",
            "/run/guest-services/host-facts.sock"
        ]),
        "the image runs the VM service"
    );
    assert_eq!(config["Os"], "linux");
    assert_eq!(config["Architecture"], host.docker());
    let labels = &config["Config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "Host Facts");
    let ours = xtask::labels::load(&root().join("extension/labels.json")).unwrap();
    for (k, v) in &ours {
        assert_eq!(labels[k].as_str(), Some(v.as_str()), "label {k}");
    }
    assert_eq!(
        json["platforms"][format!("linux/{}", host.docker())],
        config["Id"],
        "--json names the loaded image"
    );
    for p in ImagePlatform::ALL {
        let candidate = format!("{image}:unverified-{TAG}-{}", p.0.docker());
        assert!(
            local_inspect(&candidate).is_none(),
            "{candidate} left behind"
        );
    }
}

/// A local `dist` on Docker Desktop's image store (containerd): each variant loaded,
/// verified, this machine's tagged, the candidates removed.
#[test]
fn local_dist_on_the_containerd_store() {
    if !dist_ready() {
        return;
    }
    let Some(host) = containerd_engine() else {
        return;
    };
    let Some(arch) = xtask::target::Arch::host() else {
        eprintln!("SKIPPED: this machine's CPU is neither amd64 nor arm64");
        return;
    };
    let _serial = serial();
    let image = "127.0.0.1:1/xtask-local-containerd";
    let inspect = |reference: &str| {
        let out = Command::new("docker")
            .args(["image", "inspect", reference])
            .env("DOCKER_HOST", &host)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone())
    };
    let out = run_ok(dist(&warm_target(), image, &["--json"]).env("DOCKER_HOST", &host));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["pushed"], false);
    crate::vm::service_probed(&json["service"]);
    let reference = format!("{image}:{TAG}");
    let config = inspect(&reference).expect("the release tag is in the containerd store");
    assert_eq!(config["Architecture"], arch.docker());
    assert_eq!(
        config["Config"]["Labels"]["org.opencontainers.image.title"],
        "Host Facts"
    );
    for p in ImagePlatform::ALL {
        let candidate = format!("{image}:unverified-{TAG}-{}", p.0.docker());
        assert!(inspect(&candidate).is_none(), "{candidate} left behind");
    }
    let _ = Command::new("docker")
        .args(["image", "rm", &reference])
        .env("DOCKER_HOST", &host)
        .output();
}
