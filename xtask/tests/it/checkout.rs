//! The xtask binary refuses to act for another checkout than the one it was built from
//! (two checkouts sharing one `CARGO_TARGET_DIR`, as many developers set globally).

use std::fs;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

use crate::support::*;

/// A copy of the files `cargo xtask codegen` needs, as a second checkout would have them.
fn checkout(dir: &Utf8Path) {
    let _ = fs::remove_dir_all(dir);
    for rel in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        ".ci/versions.env",
        "README.md",
        "xtask/Cargo.toml",
        "xtask/leaf/Cargo.toml",
        "xtask/vendor/Cargo.toml",
        "host-bin/Cargo.toml",
        "vm/Cargo.toml",
        "extension/labels.json",
        "extension/metadata.json",
        "extension/Dockerfile",
        // labels.json's icon and screenshot URLs point into the repository: codegen checks
        // that the files exist.
        "extension/icon.svg",
        "docs/dashboard.png",
        "docs/dashboard-dark.png",
        "ui/package.json",
    ] {
        let to = dir.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(root().join(rel), &to).unwrap();
    }
    for tree in [
        "xtask/src",
        "xtask/leaf/src",
        "xtask/vendor/src",
        "host-bin/src",
        "vm/src",
    ] {
        for file in xtask::digest::walk_files(&root().join(tree)).unwrap() {
            let to = dir.join(file.strip_prefix(root()).unwrap());
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(&file, &to).unwrap();
        }
    }
}

/// `cargo xtask codegen` in `dir` with the shared target directory; it names the
/// Dockerfile it checked, so its output tells which checkout's binary ran.
fn codegen_in(dir: &Utf8Path, target: &Utf8Path) -> std::process::Output {
    run(Command::new("cargo")
        .args(["xtask", "codegen"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_binary_built_elsewhere_refuses_to_run() {
    let other = target_dir("other-checkout/xtask");
    fs::create_dir_all(&other).unwrap();
    let out = run(
        xtask(&target_dir("other-checkout"), &["codegen", "--check"])
            .env("CARGO_MANIFEST_DIR", &other),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ran for another checkout");
    assert!(
        err.contains(&format!("was run for {other}"))
            && err.contains("give each checkout its own target directory"),
        "{err}"
    );
}

/// Ran this checkout's binary, or refused with the fix; never the other's.
fn own_or_refused(dir: &Utf8Path, other: &Utf8Path, out: &std::process::Output) -> bool {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains(&format!("{other}/extension/Dockerfile")),
        "`cargo xtask` in {dir} ran {other}'s binary:\n{err}"
    );
    if out.status.success() {
        assert!(
            err.contains(&format!("{dir}/extension/Dockerfile")),
            "{err}"
        );
        return true;
    }
    assert!(
        err.contains("give each checkout its own target directory"),
        "{err}"
    );
    false
}

#[test]
fn two_checkouts_sharing_a_target_dir_never_run_each_other() {
    let base = target_dir("two-checkouts");
    let (a, b): (Utf8PathBuf, Utf8PathBuf) = (base.join("a"), base.join("b"));
    checkout(&a);
    checkout(&b);
    let shared = base.join("target");
    // Seen here: cargo hashes a path package without its path, so B's fresh build passes
    // for A's and `cargo xtask` in A runs the binary built from B.
    for (dir, other) in [(&b, &a), (&a, &b), (&b, &a)] {
        if !own_or_refused(dir, other, &codegen_in(dir, &shared)) {
            // The fix the error gives: rebuild the xtask for this checkout.
            let clean = run(Command::new("cargo")
                .args([
                    "clean",
                    "-p",
                    "xtask",
                    "-p",
                    "xtask-leaf",
                    "-p",
                    "xtask-vendor",
                ])
                .current_dir(dir.as_std_path())
                .env("CARGO_TARGET_DIR", &shared));
            assert!(clean.status.success());
            assert!(
                own_or_refused(dir, other, &codegen_in(dir, &shared)),
                "the advertised fix did not work in {dir}"
            );
        }
    }
}
