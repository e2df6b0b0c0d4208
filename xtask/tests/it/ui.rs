//! The UI for real: its unit tests under Node, the staged dashboard in headless Chromium
//! against the staged host binary and VM service, and the error a missing npm gives.

use std::fs;
use std::process::Command;
use std::time::SystemTime;

use crate::support::*;
use xtask::progress::Reporter;

/// `npm ARGS` in `ui/`, asserting success.
fn npm(args: &[&str], env: &[(&str, &str)]) {
    let mut cmd = Command::new("npm");
    cmd.current_dir(root().join("ui")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "`npm {}` failed", args.join(" "));
}

/// The image platform whose staged Linux binary runs on this machine.
fn host_platform() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("linux/amd64"),
        "aarch64" => Some("linux/arm64"),
        _ => None,
    }
}

/// (a) The lock installs as committed, and Vitest passes: components and host-call layer.
#[test]
fn npm_ci_and_vitest_pass() {
    if !node_ready() {
        return;
    }
    let _serial = serial();
    // Against `cargo xtask stage` in other processes too.
    let _lock = xtask::ui::lock_ui_dir().unwrap();
    npm(&["ci", "--no-audit", "--no-fund"], &[]);
    npm(&["test"], &[]);
}

/// (b) `ui::build`, `stage` for this machine's platform, then the browser test
/// (`ui/e2e/dashboard.test.mjs`) on the staged tree: the page shows what the staged binary
/// reports and, beside it, what the staged VM service answers over its socket (and that it
/// is unreachable while stopped), the port checker tells a held port from a free one,
/// failures show as messages.
#[test]
fn staged_dashboard_in_chromium() {
    let Some(platform) = host_platform() else {
        require(
            "an amd64 or arm64 machine",
            false,
            "run on x86_64 or aarch64",
        );
        return;
    };
    if !browser_ready() {
        return;
    }
    let _serial = serial();
    // Until `stage` builds the UI itself it copies ui/dist as it is; afterwards this call
    // finds nothing to do.
    xtask::ui::build(&Reporter::new(true)).expect("ui::build");

    let target = target_dir("ui-e2e");
    run_ok(xtask(
        &target,
        &["stage", "--toolchain", "zigbuild", "--platform", platform],
    ));
    let stage = target.join("dist/stage").join(platform.replace('/', "-"));
    let page = fs::read_to_string(stage.join("ui/index.html")).unwrap();
    assert!(
        page.contains("./assets/") && !page.contains("/src/main.tsx"),
        "the staged ui/ is not Vite's build output:\n{page}"
    );

    let started = SystemTime::now();
    npm(&["run", "test:e2e"], &[("UI_E2E_STAGE", stage.as_str())]);
    let shot = root().join("target/ui-e2e/dashboard.png");
    let bytes = fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {shot}: {e}"));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot} is no PNG");
    let written = fs::metadata(&shot).unwrap().modified().unwrap();
    assert!(written >= started, "{shot} is from an earlier run");
}

/// (c) Without npm, building the UI stops at once and names the fix.
#[test]
fn missing_npm_is_a_clear_error() {
    let err = xtask::ui::build_with(&Reporter::new(false), "npm-does-not-exist")
        .expect_err("no npm, yet the UI built");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("needs npm, but `npm-does-not-exist` is not on PATH")
            && msg.contains("install Node.js"),
        "{msg}"
    );
}

/// (c) The same through the xtask binary: `stage` exits non-zero with that message.
/// Needs `stage` to call `ui::build` (see xtask/src/stage.rs).
#[test]
fn stage_without_npm_fails_clearly() {
    let Some(platform) = host_platform() else {
        return;
    };
    if !zig_ready() {
        return;
    }
    let _serial = serial();
    let stderr = run_err(
        xtask(
            &target_dir("ui-e2e"),
            &["stage", "--toolchain", "zigbuild", "--platform", platform],
        )
        .env("XTASK_NPM", "npm-does-not-exist"),
    );
    assert!(
        stderr.contains("`npm-does-not-exist` is not on PATH"),
        "{stderr}"
    );
}

/// (d) `cargo xtask screenshots`: both pictures at 2400x1600, light and dark not the same,
/// and the committed ones in docs/ (which labels.json's screenshot URLs name) as big.
#[test]
fn screenshots_light_and_dark_at_marketplace_size() {
    if host_platform().is_none() || !browser_ready() {
        return;
    }
    let _serial = serial();
    let out = target_dir("screenshots");
    let _ = fs::remove_dir_all(&out);
    run_ok(xtask(
        &target_dir("ui-e2e"),
        &["screenshots", "--out", out.as_str()],
    ));
    // A PNG's IHDR: width and height, big-endian, at bytes 16..24.
    let size = |bytes: &[u8]| -> (u32, u32) {
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    };
    let mut shots = Vec::new();
    for name in xtask::screenshots::SHOTS {
        let made = fs::read(out.join(name)).unwrap_or_else(|e| panic!("no {name}: {e}"));
        assert_eq!(size(&made), (2400, 1600), "{name}");
        let committed = fs::read(root().join("docs").join(name)).unwrap();
        assert_eq!(size(&committed), (2400, 1600), "docs/{name}");
        shots.push(made);
    }
    assert_ne!(shots[0], shots[1], "the dark picture is the light one");
}

/// Node.js, zig (to stage the real binaries) and Debian's Chromium.
fn browser_ready() -> bool {
    node_ready()
        && zig_ready()
        && require(
            "chromium",
            fs::metadata("/usr/bin/chromium").is_ok(),
            "apt-get install chromium",
        )
}
