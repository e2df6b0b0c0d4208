//! Shared by the end-to-end tests: run the real xtask binary, require real tools, take
//! turns on what the pipeline shares.

use std::borrow::BorrowMut;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use std::sync::{Mutex, MutexGuard};
use xtask::target::ImagePlatform;

use camino::{Utf8Path, Utf8PathBuf};

/// One pipeline run at a time. Every `stage`, `dist` or `install` builds the UI into the
/// one `ui/dist` and copies it into its staged tree (a run killed by a test may leave it
/// half-written until the next build), and two cores gain nothing from two compiles.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn root() -> Utf8PathBuf {
    xtask::paths::root()
}

/// A target directory of the test's own below the workspace's `target/`, kept between
/// runs so re-runs are incremental.
pub fn target_dir(name: &str) -> Utf8PathBuf {
    root().join("target/it").join(name)
}

/// Where another checkout's own xtask is built (`root()` is fixed when it compiles, so a
/// clone or copy needs its own binary). One directory for every such checkout: the
/// xtask's crates.io dependencies compile once, its own three crates per checkout path.
/// Safe to share because the tests that build there hold `serial()`, and their runs set
/// `CARGO_MANIFEST_DIR`, so the binary refuses to run if it was built from another
/// checkout (see `xtask::paths::check_checkout`).
pub fn checkouts_xtask_target() -> Utf8PathBuf {
    target_dir("checkout-xtask")
}

/// A registry of the test's own (in memory) and the containerd-store engine's
/// `DOCKER_HOST`, with `serial()` held; `None` (after `require`) where either is missing.
pub fn containerd_registry() -> Option<(String, MutexGuard<'static, ()>, registry::Registry)> {
    let host = containerd_engine()?;
    let lock = serial();
    let reg = registry::Registry::start_with(registry::Options {
        in_memory: true,
        ..registry::Options::default()
    })?;
    Some((host, lock, reg))
}

/// The xtask binary, run from the workspace root.
pub fn xtask(target_dir: &Utf8Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root())
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CI", "true");
    cmd
}

pub fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().expect("cannot start xtask");
    eprintln!(
        "--- {:?} exited {}\n--- stdout:\n{}\n--- stderr:\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn run_ok(cmd: impl BorrowMut<Command>) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "xtask failed: see its output above");
    out
}

/// Runs, expects failure, returns stderr.
pub fn run_err(cmd: impl BorrowMut<Command>) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "xtask succeeded but should have failed"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A prerequisite the test cannot run without. Under `CI` its absence fails the test
/// (a skipped test checks nothing); elsewhere the test is skipped with a note.
pub fn require(what: &str, ok: bool, fix: &str) -> bool {
    if ok {
        return true;
    }
    let msg = format!("missing prerequisite: {what}; fix: {fix} (or run `bash .ci/install.sh`)");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

pub fn on_path(tool: &str) -> bool {
    which::which(tool).is_ok()
}

/// zig (on PATH or as python3's `ziglang`) and cargo-zigbuild: the default toolchain.
pub fn zig_ready() -> bool {
    let zig = on_path("zig")
        || Command::new("python3")
            .args(["-c", "import ziglang"])
            .status()
            .is_ok_and(|s| s.success());
    require(
        "cargo-zigbuild",
        on_path("cargo-zigbuild"),
        "pip install cargo-zigbuild",
    ) && require("zig", zig, "pip install ziglang")
}

/// Node.js and npm, which the UI build needs.
pub fn node_ready() -> bool {
    require(
        "node",
        on_path("node"),
        "install Node.js 20.19+ (apt-get install nodejs)",
    ) && require("npm", on_path("npm"), "install npm (apt-get install npm)")
}

/// `DOCKER_HOST` of the second engine, the one with the containerd image store (Docker
/// Desktop's builder behaviour), which `.ci/install.sh` starts with
/// `.ci/engine-containerd.sh up`.
pub fn containerd_engine() -> Option<String> {
    let up = Command::new("bash")
        .arg(root().join(".ci/engine-containerd.sh"))
        .arg("status")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(
        "the containerd-store engine (`.ci/engine-containerd.sh status`)",
        up,
        "bash .ci/engine-containerd.sh up",
    ) {
        return None;
    }
    Some("unix:///run/xtask-engine2/docker.sock".to_owned())
}

/// A docker client configuration of the test's own (`DOCKER_CONFIG`): logins stay out of
/// the user's, and the CLI still finds the buildx plugin.
pub fn docker_config(name: &str) -> Utf8PathBuf {
    let dir = target_dir("docker-config").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let home = Utf8PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let plugins = home.join(".docker/cli-plugins");
    if plugins.is_dir() {
        std::os::unix::fs::symlink(&plugins, dir.join("cli-plugins")).unwrap();
    }
    dir
}

/// Everything `dist` needs: docker and buildx, zig, node.
pub fn dist_ready() -> bool {
    registry::docker_ready() && zig_ready() && node_ready()
}

/// A good staged tree (`stage --toolchain zigbuild`, both platforms), made once per test
/// run in a target directory of its own and shared by the tests that only read it;
/// `None` without zig (outside CI).
pub fn staged() -> Option<&'static Utf8Path> {
    static STAGE: std::sync::OnceLock<Option<Utf8PathBuf>> = std::sync::OnceLock::new();
    STAGE
        .get_or_init(|| {
            if !(zig_ready() && node_ready()) {
                return None;
            }
            let _s = serial();
            let target = target_dir("verify");
            run_ok(xtask(&target, &["stage", "--toolchain", "zigbuild"]));
            Some(target.join("dist/stage"))
        })
        .as_deref()
}

/// Exports one variant's file system the way a user could: `FROM REF@DIGEST` built for
/// its platform into a local directory.
pub fn export_fs(manifest: &str, platform: ImagePlatform, dir: &Utf8Path) -> Utf8PathBuf {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("Dockerfile"), format!("FROM {manifest}\n")).unwrap();
    let out = dir.join("fs");
    let o = run(Command::new("docker")
        .args(["buildx", "build", "--platform", &platform.to_string()])
        .arg("-o")
        .arg(format!("type=local,dest={out}"))
        .arg(dir));
    assert!(o.status.success(), "exporting {manifest} failed");
    out
}

/// Every file below `dir` with its bytes, mode and mtime: two equal snapshots mean
/// byte-identical trees.
pub fn snapshot(dir: &Utf8Path) -> BTreeMap<String, (Vec<u8>, u32, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in d.read_dir_utf8().unwrap() {
            let e = e.unwrap();
            let meta = fs::metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_string();
            if meta.is_dir() {
                stack.push(e.path().to_owned());
                out.insert(
                    rel + "/",
                    (
                        Vec::new(),
                        meta.permissions().mode(),
                        meta.modified().unwrap(),
                    ),
                );
            } else {
                out.insert(
                    rel,
                    (
                        fs::read(e.path()).unwrap(),
                        meta.permissions().mode(),
                        meta.modified().unwrap(),
                    ),
                );
            }
        }
    }
    out
}

/// Writes a metadata.json variant (with a copy of the icon) into a scratch directory.
pub fn metadata_variant(name: &str, text: &str) -> Utf8PathBuf {
    let dir = root().join("target/it/metadata").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(root().join("extension/icon.svg"), dir.join("icon.svg")).unwrap();
    fs::write(dir.join("metadata.json"), text).unwrap();
    dir.join("metadata.json")
}
pub mod binaries;
pub mod registry;
