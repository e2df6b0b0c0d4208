//! The xtask runs on the contributor's machine, which may be a Mac or a Windows PC, not
//! only on Linux where the rest of the suite runs: it must at least compile there.

use std::process::Command;

use crate::support::*;

#[test]
fn xtask_compiles_for_windows_and_macos_hosts() {
    for triple in ["x86_64-pc-windows-gnu", "aarch64-apple-darwin"] {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l == triple)
            });
        if !require(
            &format!("rust target {triple}"),
            installed,
            &format!("rustup target add {triple}"),
        ) {
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
}
