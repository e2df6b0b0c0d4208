//! The xtask runs on the contributor's machine, which may be a Mac or a Windows PC, not
//! only on Linux where the rest of the suite runs: it must compile there, and on Windows
//! it is run here, under wine.

use std::process::Command;
use std::time::{Duration, Instant};

use xtask::cmd::Cmd;
use xtask::smoke::{self, Tools};

use crate::support::*;

const WINDOWS: &str = "x86_64-pc-windows-gnu";

/// Unit tests that start a Linux program and read what it prints. Wine starts a Linux
/// program from a Windows one only detached: it cannot hand it a pipe (seen: `cargo`
/// fails to start with "Invalid handle" when its output is captured) and the Windows side
/// does not wait for it (seen: `cmd /c "cargo metadata > FILE"` returns at once, the
/// file fills later). On a Windows runner they run; here they cannot.
const NEEDS_A_LINUX_CHILD: &[&str] = &[
    // `cargo metadata`.
    "codegen::tests::dockerfile_is_fresh",
];

fn target_installed(triple: &str) -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == triple)
        });
    require(
        &format!("rust target {triple}"),
        installed,
        &format!("rustup target add {triple}"),
    )
}

/// Nothing here runs Mach-O, so for macOS hosts the proof is that it compiles. (Windows
/// hosts: the test below builds, then runs, it.)
#[test]
fn xtask_compiles_for_macos_hosts() {
    let triple = "aarch64-apple-darwin";
    if !target_installed(triple) {
        return;
    }
    let out = run(Command::new("cargo")
        .args([
            "check", "--locked", "--quiet", "-p", "xtask", "--target", triple,
        ])
        .env("CARGO_TARGET_DIR", target_dir("portability"))
        .current_dir(root()));
    assert!(
        out.status.success(),
        "the xtask does not compile for {triple} hosts: see above"
    );
}

/// The xtask's library tests (its own, the leaf crate's and the vendor crate's) built for
/// Windows and run under wine as cargo's runner, then the Windows `xtask.exe` itself for
/// what needs no Linux program: its help, and a clear error where a tool is missing.
/// Building both is also the proof that the xtask compiles for Windows hosts.
#[test]
fn xtask_tests_pass_on_windows_under_wine() {
    let tools = Tools::detect();
    if !target_installed(WINDOWS)
        || !require(
            "x86_64-w64-mingw32-gcc",
            tools.mingw_gcc.is_some(),
            "apt-get install gcc-mingw-w64-x86-64",
        )
    {
        return;
    }
    let started = Instant::now();
    let dir = target_dir("portability");
    let cargo = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.args(args)
            .args(["--locked", "--target", WINDOWS])
            .args(["-p", "xtask", "-p", "xtask-leaf", "-p", "xtask-vendor"])
            .env("CARGO_TARGET_DIR", &dir)
            // The MinGW runtime Debian ships: no zig, no C runtime compiled on first use.
            .env(
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER",
                "x86_64-w64-mingw32-gcc",
            )
            .current_dir(root());
        c
    };
    let out = run(cargo(&["build", "--bin", "xtask"]));
    assert!(
        out.status.success(),
        "the xtask does not build for Windows hosts: see above"
    );
    let out = run(cargo(&["test", "--no-run", "--lib"]));
    assert!(
        out.status.success(),
        "the xtask's tests do not build for Windows: see above"
    );
    let built = started.elapsed();
    if !require(
        "wine",
        tools.wine.is_some(),
        "bash .ci/install-emulators.sh",
    ) {
        return;
    }
    // The shim and a private prefix under the test's own target directory (never
    // ~/.wine), created once and kept between runs: wine's first start of a prefix is slow.
    let opts = smoke::Options {
        cache_dir: dir.join("wine-cache"),
        timeout: Duration::from_secs(60),
    };
    let wine = smoke::wine_in_place(&tools, &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut test = cargo(&["test", "--lib"]);
    test.env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", &wine.program);
    with_env(&mut test, &wine);
    test.arg("--");
    for t in NEEDS_A_LINUX_CHILD {
        test.args(["--skip", t]);
    }
    let out = run(test);
    assert!(
        out.status.success(),
        "the xtask's library tests fail on Windows (under wine): see above"
    );
    let tested = started.elapsed();

    let exe = dir.join(WINDOWS).join("debug/xtask.exe");
    let xtask = |args: &[&str]| {
        let r = wine
            .clone()
            .arg(exe.as_str())
            .args_from(args.iter().copied())
            .run_timed(opts.timeout)
            .expect("cannot start wine");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        );
        eprintln!("--- xtask.exe {args:?}: {:?}\n{stdout}\n{stderr}", r.status);
        (r.status.and_then(|s| s.code()), stdout, stderr)
    };
    let (code, stdout, _) = xtask(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Usage: cargo xtask <COMMAND>"), "{stdout}");
    let (code, stdout, _) = xtask(&["stage", "--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--dry-run"), "{stdout}");
    // Wine's Windows PATH holds no cargo.exe: a clear error naming it, no panic.
    let (code, _, stderr) = xtask(&["stage", "--dry-run"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start `cargo`: is it installed and on PATH?"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!(
        "windows: built in {:.1}s, library tests under wine {:.1}s, all {:.1}s",
        built.as_secs_f64(),
        (tested - built).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// `cmd`'s environment (wine's prefix, the shim on the Windows PATH, ...) on a
/// `std::process::Command`; cargo passes it on to the runner.
fn with_env(c: &mut Command, cmd: &Cmd) {
    for k in &cmd.unset {
        c.env_remove(k);
    }
    for (k, v) in &cmd.env {
        c.env(k, v);
    }
}
