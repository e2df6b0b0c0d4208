//! `vendor.toml` end to end, over real HTTP: a server this test starts on a loopback port
//! serves mirrors of dl.k8s.io (`release/vX/bin/OS/ARCH/kubectl[.exe]` + `.sha256`) and
//! get.helm.sh (`helm-vX-OS-ARCH.tar.gz`, `.zip` on Windows, `.sha256sum`) holding real
//! executables for every OS/CPU, compiled with zig.
//!
//! The shared fixtures live here (prerequisites, the fixture binaries, `fault`) and in
//! `server` (the HTTP server) and `mirror` (the two mirrors on it); the tests, one module
//! per area:
//! - `lock`: `lock` from the published checksum files, fetch of every platform of
//!   `extension/vendor.example.toml`, cache reuse (requests counted on the server);
//! - `toml`: `lock` keeps every byte of a manifest using all of TOML but the pins;
//! - `faults`: each download fault, and offline with a cold cache;
//! - `unpack`: archive members, the archives that must be refused, unpacked files;
//! - `archive`: the archive formats (`.tar.xz`, `.tar`, `.xz`, ZIP64, unsupported);
//! - `processes`: two processes sharing one cache, offline with a warm one, no curl;
//! - `dist`: kubectl and helm shipped beside host-bin through `dist --push`.
//!
//! Under `CI` a missing curl or zig fails the test; elsewhere the test is skipped.

mod archive;
mod dist;
mod faults;
mod lock;
mod mirror;
mod processes;
mod server;
mod toml;
mod unpack;

use std::process::Command;
use std::sync::OnceLock;
use std::{fs, thread};

use camino::{Utf8Path, Utf8PathBuf};
use xtask::binfmt;
use xtask::vendor::fetch::Cache;
use xtask::vendor::{HostPlatform, Manifest};

use crate::support::require;
use mirror::Mirror;

const K1: &str = "1.31.2";
const K2: &str = "1.31.3";
const HELM: &str = "3.16.3";

// ---------------------------------------------------------------- prerequisites

fn runs(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// `zig cc`, from PATH or python's `ziglang` package.
fn zig() -> Option<Command> {
    if runs(Command::new("zig").arg("version")) {
        return Some(Command::new("zig"));
    }
    if runs(Command::new("python3").args(["-m", "ziglang", "version"])) {
        let mut c = Command::new("python3");
        c.args(["-m", "ziglang"]);
        return Some(c);
    }
    None
}

fn ready() -> bool {
    require(
        "curl",
        runs(Command::new("curl").arg("--version")),
        "apt-get install curl",
    ) && require("zig", zig().is_some(), "pip install ziglang==0.14.1")
}

// ---------------------------------------------------------------- fixture binaries

fn zig_target(p: HostPlatform) -> &'static str {
    match (p.os.dir(), p.arch.docker()) {
        ("darwin", "amd64") => "x86_64-macos",
        ("darwin", _) => "aarch64-macos",
        ("linux", "amd64") => "x86_64-linux-musl",
        ("linux", _) => "aarch64-linux-musl",
        ("windows", "amd64") => "x86_64-windows-gnu",
        _ => "aarch64-windows-gnu",
    }
}

const TOOLS: [(&str, &str, &str); 3] = [
    ("kubectl", K1, "Client Version: v"),
    ("kubectl", K2, "Client Version: v"),
    ("helm", HELM, "v"),
];

/// Real executables for every (tool, version, platform), built once per test run.
fn fixtures() -> &'static Utf8Path {
    static DIR: OnceLock<Utf8PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vendor-fixtures");
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("tool.c");
        fs::write(
            &src,
            "#include <stdio.h>\nint main(void) { puts(TEXT); return 0; }\n",
        )
        .unwrap();
        thread::scope(|s| {
            for p in HostPlatform::ALL {
                let (dir, src) = (&dir, &src);
                s.spawn(move || {
                    for (tool, version, prefix) in TOOLS {
                        let out = fixture_path(dir, tool, version, p);
                        fs::create_dir_all(out.parent().unwrap()).unwrap();
                        let o = zig()
                            .unwrap()
                            .args(["cc", "-target", zig_target(p), "-Os"])
                            .arg(format!("-DTEXT=\"{prefix}{version}\""))
                            .args([src.as_str(), "-o", out.as_str()])
                            .output()
                            .unwrap();
                        assert!(
                            o.status.success(),
                            "zig cc for {p}: {}",
                            String::from_utf8_lossy(&o.stderr)
                        );
                        assert_eq!(platform_of(&fs::read(&out).unwrap()), Some(p), "{out}");
                    }
                });
            }
        });
        dir
    })
}

fn fixture_path(dir: &Utf8Path, tool: &str, version: &str, p: HostPlatform) -> Utf8PathBuf {
    dir.join(format!("{tool}-{version}/{p}/{tool}{}", p.os.exe_suffix()))
}

fn fixture(tool: &str, version: &str, p: HostPlatform) -> Vec<u8> {
    fs::read(fixture_path(fixtures(), tool, version, p)).unwrap()
}

/// The platform an executable's headers say it is for, as the product's header reader
/// (`xtask::binfmt`) reads them: the OS that loads its format, its one CPU. `None` for
/// anything the extension does not ship (no executable, a universal binary, another CPU).
fn platform_of(b: &[u8]) -> Option<HostPlatform> {
    let info = binfmt::sniff(b).ok()?;
    let cpu = info.cpu()?;
    HostPlatform::ALL
        .into_iter()
        .find(|p| (p.os.format(), p.arch.cpu()) == (info.format, cpu))
}

fn p(s: &str) -> HostPlatform {
    HostPlatform::parse(s).unwrap()
}

/// Fetches and returns the error chain; asserts it names the binary, the platform and
/// the URL, and that nothing entered the cache.
fn fault(cache: &Cache, manifest: &Manifest, name: &str, platform: &str) -> String {
    let a = manifest.resolve(name, p(platform)).unwrap();
    let err = format!("{:#}", cache.fetch(&a, &mut |_| {}).unwrap_err());
    eprintln!("{err}");
    let url = cache.options().mirrored(&a.upstream.url);
    let head = format!("cannot fetch {name} for {platform}");
    assert!(err.starts_with(&head), "{err}");
    assert!(err.contains(&format!(" from {url}")), "{err}");
    assert_eq!(Mirror::cached_files(cache), Vec::<String>::new(), "{err}");
    err
}

fn kubectl_manifest(version: &str, pins: &[(&str, String)]) -> String {
    let mut s = format!(
        "[kubectl]\nversion = \"{version}\"\n\
         url = \"https://dl.k8s.io/release/v{{version}}/bin/{{os}}/{{arch}}/kubectl{{exe}}\"\n\
         [kubectl.sha256]\n"
    );
    for (platform, hex) in pins {
        s += &format!("{platform} = \"{hex}\"\n");
    }
    s
}
