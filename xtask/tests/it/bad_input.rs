//! Bad input: each mistake gives a clear message naming the file, field or flag, a
//! non-zero exit, and no staged tree. These fail before anything compiles.

use crate::support::*;

const BINARIES_OK: &str = r#"{"darwin": [{"path": "/darwin/host-bin"}], "windows": [{"path": "/windows/host-bin.exe"}], "linux": [{"path": "/linux/host-bin"}]}"#;

fn metadata_with(binaries: &str) -> String {
    format!(
        r#"{{"icon": "icon.svg", "ui": {{"tab": {{"title": "T", "root": "/ui", "src": "index.html"}}}},
            "host": {{"binaries": [{binaries}]}}}}"#
    )
}

/// Stages with `metadata`, expects failure mentioning every `needles`, and checks that
/// nothing was staged.
fn expect_stage_error(case: &str, metadata: &str, needles: &[&str]) {
    let file = metadata_variant(case, metadata);
    let target = target_dir(&format!("bad-input-{case}"));
    let _ = std::fs::remove_dir_all(&target);
    let err = run_err(xtask(&target, &["stage", "--metadata", file.as_str()]));
    for n in needles.iter().chain([&file.as_str()]) {
        assert!(err.contains(n), "{case}: expected `{n}` in:\n{err}");
    }
    assert!(
        !target.join("dist/stage").exists(),
        "{case}: a staged tree was left behind"
    );
    assert!(
        !target.join("x86_64-apple-darwin").exists(),
        "{case}: compiled before checking input"
    );
}

#[test]
fn invalid_json() {
    expect_stage_error(
        "invalid-json",
        "{\n  \"icon\": \"icon.svg\",\n  \"host\": [\n}",
        &["line 4 column 1"],
    );
}

#[test]
fn unknown_os_key() {
    expect_stage_error(
        "unknown-os",
        &metadata_with(r#"{"macos": [{"path": "/darwin/host-bin"}]}"#),
        &["`host.binaries[0].macos`", "unknown OS `macos`"],
    );
}

#[test]
fn path_outside_os_dir() {
    expect_stage_error(
        "outside",
        &metadata_with(r#"{"linux": [{"path": "/windows/host-bin"}]}"#),
        &[
            "`host.binaries[0].linux[0].path`",
            "outside the linux directory",
        ],
    );
}

#[test]
fn windows_without_exe() {
    expect_stage_error(
        "no-exe",
        &metadata_with(r#"{"windows": [{"path": "/windows/host-bin"}]}"#),
        &["`host.binaries[0].windows[0].path`", "must end in `.exe`"],
    );
}

#[test]
fn binary_no_package_builds() {
    expect_stage_error(
        "unknown-bin",
        &metadata_with(r#"{"linux": [{"path": "/linux/ghost"}]}"#),
        &[
            "no workspace package builds a binary named `ghost`",
            "host-bin",
        ],
    );
}

#[test]
fn missing_icon() {
    let text = metadata_with(BINARIES_OK).replace("icon.svg", "missing.svg");
    expect_stage_error(
        "missing-icon",
        &text,
        &["`icon`", "missing.svg", "does not exist"],
    );
}

#[test]
fn unknown_platform_and_toolchain() {
    let target = target_dir("bad-input-flags");
    let err = run_err(xtask(&target, &["stage", "--platform", "linux/riscv64"]));
    assert!(
        err.contains("--platform")
            && err.contains("linux/riscv64")
            && err.contains("linux/amd64, linux/arm64"),
        "{err}"
    );
    let err = run_err(xtask(&target, &["stage", "--toolchain", "msvc"]));
    assert!(
        err.contains("--toolchain") && err.contains("unknown toolchain `msvc`"),
        "{err}"
    );
    let err = run_err(xtask(
        &target,
        &[
            "stage",
            "--toolchain",
            "aarch64-apple-darwin=cross",
            "--dry-run",
        ],
    ));
    assert!(
        err.contains("cross has no image for aarch64-apple-darwin"),
        "{err}"
    );
    assert!(!target.join("dist/stage").exists());
}

#[test]
fn metadata_file_that_does_not_exist() {
    let target = target_dir("bad-input-nofile");
    let err = run_err(xtask(
        &target,
        &["stage", "--metadata", "nowhere/metadata.json"],
    ));
    assert!(err.contains("cannot read nowhere/metadata.json"), "{err}");
}

#[test]
fn warning_for_unnamed_binary_does_not_fail_dry_run() {
    // host-bin is the only binary; naming it for linux only is valid and plans 2 triples.
    let file = metadata_variant(
        "linux-only",
        &metadata_with(r#"{"linux": [{"path": "/linux/host-bin"}]}"#),
    );
    let out = run_ok(xtask(
        &target_dir("dry-run"),
        &[
            "stage",
            "--dry-run",
            "--toolchain",
            "zigbuild",
            "--metadata",
            file.as_str(),
        ],
    ));
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        plan.contains("--target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"),
        "{plan}"
    );
    assert!(!plan.contains("apple-darwin"), "{plan}");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let target = target_dir("dry-run-full");
    let _ = std::fs::remove_dir_all(&target);
    let out = run_ok(xtask(
        &target,
        &[
            "stage",
            "--dry-run",
            "--toolchain",
            "zigbuild",
            "--toolchain",
            "x86_64-pc-windows-gnu=cargo",
        ],
    ));
    let plan = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "cargo zigbuild --release --locked",
        "--target x86_64-apple-darwin",
        "--target aarch64-pc-windows-gnullvm",
        "cargo build --release --locked",
        "--target x86_64-pc-windows-gnu",
        "stage linux/arm64 -> ",
        "darwin/host-bin <- ",
        "windows/host-bin.exe <- ",
        "SHA256SUMS",
    ] {
        assert!(plan.contains(needle), "`{needle}` not in plan:\n{plan}");
    }
    assert!(!target.exists(), "--dry-run created {target}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    // The process, not the parser: where each text goes and the exit code scripts see.
    let target = target_dir("bad-input-usage");
    for (args, code, stdout, stderr) in [
        (&["dist", "--help"][..], 0, "Usage: cargo xtask dist", ""),
        (&["vendor", "lock", "-h"], 0, "--version <VERSION>", ""),
        (&[], 2, "", "Usage: cargo xtask <COMMAND>"),
        (
            &["stage", "--platfrom", "linux/arm64"],
            2,
            "",
            "tip: a similar argument exists: '--platform'",
        ),
        (&["stge"], 2, "", "a similar subcommand exists: 'stage'"),
        (
            &["dist", "--tag", "1", "--tag", "2"],
            2,
            "",
            "cannot be used multiple times",
        ),
    ] {
        let out = run(xtask(&target, args));
        let (out_text, err_text) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(out_text.contains(stdout), "{args:?}: stdout {out_text}");
        assert!(err_text.contains(stderr), "{args:?}: stderr {err_text}");
        match code {
            0 => assert!(err_text.is_empty(), "{args:?}: {err_text}"),
            _ => assert!(out_text.is_empty(), "{args:?}: {out_text}"),
        }
    }
}
