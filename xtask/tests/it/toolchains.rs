//! The cross and plain-cargo toolchains really build their triples; results are checked
//! from the binaries' headers, and a clean rebuild gives the same bytes.

use crate::support::*;
use xtask::binfmt::{self, Cpu, Format, Linkage, Os};

/// The cross image `.ci/install.sh` builds with debootstrap + `docker import`, because
/// cross's own images cannot be pulled on this machine.
const CROSS_IMAGE: &str = "xtask-cross/x86_64-pc-windows-gnu:bookworm";

fn built(target_dir: &camino::Utf8Path, triple: &str, exe: &str) -> binfmt::BinInfo {
    let path = target_dir.join(triple).join("release").join(exe);
    binfmt::sniff_file(&path).unwrap()
}

#[test]
fn cross_builds_windows_gnu() {
    let docker_up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    let image = std::process::Command::new("docker")
        .args(["image", "inspect", CROSS_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !(require("cross", on_path("cross"), "cargo install cross --locked")
        && require("a running Docker daemon", docker_up, "dockerd &")
        && require(
            CROSS_IMAGE,
            image,
            "bash .ci/install.sh (builds it with debootstrap)",
        ))
    {
        return;
    }
    let build = |target: &camino::Utf8Path| {
        run_ok(
            xtask(
                target,
                &[
                    "build",
                    "--toolchain",
                    "cross",
                    "--target",
                    "x86_64-pc-windows-gnu",
                ],
            )
            .env("CROSS_TARGET_X86_64_PC_WINDOWS_GNU_IMAGE", CROSS_IMAGE)
            .env("SOURCE_DATE_EPOCH", EPOCH),
        );
    };
    let target = target_dir("cross");
    let _ = std::fs::remove_dir_all(&target);
    build(&target);
    let info = built(&target, "x86_64-pc-windows-gnu", "host-bin.exe");
    assert_eq!(
        (info.format, info.cpu()),
        (Format::Pe, Some(Cpu::X86_64)),
        "{info}"
    );
    same_bytes_after_a_clean_build(
        "cross",
        build,
        &["x86_64-pc-windows-gnu/release/host-bin.exe"],
    );
}

/// The link time PE headers carry, the same for both builds (by default it is the last
/// commit's time).
const EPOCH: &str = "1700000000";

/// Builds again with `build` in a new target dir and wants every `outputs` file (relative
/// to the target dir) byte-identical to `name`'s first build: no link timestamps, no
/// target-dir paths in the binaries, whatever the toolchain.
fn same_bytes_after_a_clean_build(name: &str, build: impl Fn(&camino::Utf8Path), outputs: &[&str]) {
    let first = target_dir(name);
    let clean = target_dir(&format!("{name}-clean"));
    let _ = std::fs::remove_dir_all(&clean);
    build(&clean);
    for o in outputs {
        let (a, b) = (first.join(o), clean.join(o));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{name}: a clean rebuild gave different bytes for {o} ({a} vs {b})"
        );
    }
    let _ = std::fs::remove_dir_all(&clean);
}

#[test]
fn plain_cargo_builds_musl_and_mingw() {
    if !(require(
        "x86_64-w64-mingw32-gcc",
        on_path("x86_64-w64-mingw32-gcc"),
        "apt-get install gcc-mingw-w64-x86-64",
    ) && require(
        "x86_64-linux-gnu-gcc",
        on_path("x86_64-linux-gnu-gcc"),
        "apt-get install gcc",
    )) {
        return;
    }
    let build = |target: &camino::Utf8Path| {
        run_ok(
            xtask(
                target,
                &[
                    "build",
                    "--toolchain",
                    "cargo",
                    "--target",
                    "x86_64-unknown-linux-musl",
                    "--target",
                    "x86_64-pc-windows-gnu",
                ],
            )
            .env("SOURCE_DATE_EPOCH", EPOCH),
        );
    };
    let target = target_dir("cargo");
    let _ = std::fs::remove_dir_all(&target);
    build(&target);
    let elf = built(&target, "x86_64-unknown-linux-musl", "host-bin");
    assert_eq!(
        (elf.format, elf.cpu(), elf.linkage),
        (Format::Elf, Some(Cpu::X86_64), Linkage::Static),
        "{elf}"
    );
    let pe = built(&target, "x86_64-pc-windows-gnu", "host-bin.exe");
    assert_eq!(
        (pe.format, pe.cpu()),
        (Format::Pe, Some(Cpu::X86_64)),
        "{pe}"
    );
    // The musl binary runs here: the real thing, not just a header.
    let out = std::process::Command::new(target.join("x86_64-unknown-linux-musl/release/host-bin"))
        .arg("info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["os"].as_str(), json["arch"].as_str()),
        (Some("linux"), Some("x86_64")),
        "{json}"
    );
    same_bytes_after_a_clean_build(
        "cargo",
        build,
        &[
            "x86_64-unknown-linux-musl/release/host-bin",
            "x86_64-pc-windows-gnu/release/host-bin.exe",
        ],
    );
}

/// The first run's cost: with an empty zig cache, the Linux, macOS and x86_64 Windows
/// targets make zig compile nothing (musl links with rust-lld against Rust's own CRT and
/// libc; darwin links without zig's compiler-rt and UBSan runtime; x86_64 Windows with
/// MinGW-w64's gcc and its prebuilt runtime). Only arm64 Windows still needs zig's MinGW
/// CRT, which is why it is not in this build. The MinGW-linked PE is what verify wants
/// (system DLLs only, console subsystem), carries SOURCE_DATE_EPOCH as its link time, and
/// a clean rebuild in another target dir gives the same bytes.
#[test]
fn zigbuild_builds_no_zig_runtime_for_linux_macos_or_x86_64_windows() {
    if !(zig_ready()
        && require(
            "x86_64-w64-mingw32-gcc",
            on_path("x86_64-w64-mingw32-gcc"),
            "apt-get install gcc-mingw-w64-x86-64",
        ))
    {
        return;
    }
    let target = target_dir("zig-first-run");
    let zig_cache = target_dir("zig-first-run-cache");
    for d in [&target, &zig_cache] {
        let _ = std::fs::remove_dir_all(d);
    }
    let triples = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-gnu",
    ];
    let mut args = vec!["build", "--toolchain", "zigbuild"];
    for t in &triples {
        args.extend(["--target", t]);
    }
    let build = |target: &camino::Utf8Path| {
        run_ok(
            xtask(target, &args)
                .env("ZIG_GLOBAL_CACHE_DIR", &zig_cache)
                .env("SOURCE_DATE_EPOCH", EPOCH),
        )
    };
    let out = build(&target);
    let log = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("x86_64-pc-windows-gnu: zigbuild, linked by x86_64-w64-mingw32-gcc"),
        "{log}"
    );
    for t in &triples[..4] {
        let info = built(&target, t, "host-bin");
        if t.contains("linux") {
            assert_eq!(info.linkage, Linkage::Static, "{t}: {info}");
        }
    }
    let exe = std::fs::read(target.join("x86_64-pc-windows-gnu/release/host-bin.exe")).unwrap();
    let report = binfmt::check(&exe, Os::Windows, Cpu::X86_64, &binfmt::Floors::default());
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        binfmt::pe_link_time(&exe),
        Some(EPOCH.parse().unwrap()),
        "GNU ld stamps SOURCE_DATE_EPOCH"
    );
    let mut libraries = Vec::new();
    let mut dirs = vec![zig_cache.clone().into_std_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "a" || x == "lib") {
                libraries.push(p.display().to_string());
            }
        }
    }
    assert!(
        libraries.is_empty(),
        "zig built libraries Rust does not need: {libraries:?}"
    );
    same_bytes_after_a_clean_build(
        "zig-first-run",
        |t| drop(build(t)),
        &["x86_64-pc-windows-gnu/release/host-bin.exe"],
    );
    let _ = std::fs::remove_dir_all(&zig_cache);
}

/// A commit that leaves the host sources alone still changes SOURCE_DATE_EPOCH, and cargo
/// does not relink for it: the xtask relinks the Windows binaries, so their PE link time
/// is this commit's, as a clean build would have it.
#[test]
fn a_new_source_date_epoch_relinks_what_stamps_it() {
    if !zig_ready() {
        return;
    }
    let target = target_dir("epoch");
    let _ = std::fs::remove_dir_all(&target);
    let build = |epoch: &str| {
        run_ok(
            xtask(
                &target,
                &[
                    "build",
                    "--toolchain",
                    "zigbuild",
                    "--target",
                    "x86_64-pc-windows-gnu",
                ],
            )
            .env("SOURCE_DATE_EPOCH", epoch),
        );
        let exe = target.join("x86_64-pc-windows-gnu/release/host-bin.exe");
        xtask::binfmt::pe_link_time(&std::fs::read(exe).unwrap())
    };
    assert_eq!(build("1700000000"), Some(1_700_000_000));
    assert_eq!(build("1700000100"), Some(1_700_000_100));
}
