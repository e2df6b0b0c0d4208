//! The zigbuild toolchain really compiles all six triples; every staged binary's format and
//! CPU is read from its header; modes, checksums and byte-identical re-staging checked.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::*;
use xtask::binfmt::{self, Linkage};
use xtask::target::{ImagePlatform, Os};

#[test]
fn stages_all_six_triples_reproducibly() {
    if !zig_ready() {
        return;
    }
    let _s = serial();
    let target = target_dir("zigbuild");
    run_ok(
        xtask(&target, &["stage", "--toolchain", "zigbuild"])
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let stage = target.join("dist/stage");

    let mut checked = 0;
    for platform in ImagePlatform::ALL {
        let root = stage.join(platform.stage_name());
        for f in ["metadata.json", "icon.svg", "ui/index.html", "SHA256SUMS"] {
            assert!(root.join(f).is_file(), "{root}/{f} missing");
        }
        let sums = fs::read_to_string(root.join("SHA256SUMS")).unwrap();
        let mut listed = 0;
        for line in sums.lines() {
            let (hash, rel) = line.split_once("  ").expect("`<sha256>  <path>` lines");
            let path = root.join(rel);
            assert_eq!(xtask::digest::sha256_hex(&path).unwrap(), hash, "{path}");
            listed += 1;
        }
        for t in platform.targets() {
            let path = root.join(t.os.dir()).join(t.exe_name("host-bin"));
            let info = binfmt::sniff_file(&path).unwrap();
            let (format, cpu) = t.expected();
            assert_eq!(
                (info.format, info.cpu()),
                (format, Some(cpu)),
                "{path}: {info}"
            );
            if t.os == Os::Linux {
                assert_eq!(info.linkage, Linkage::Static, "{path} must be static musl");
            }
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o755, "{path}");
            assert!(
                sums.contains(&format!("  {}/{}\n", t.os.dir(), t.exe_name("host-bin"))),
                "{path} not in SHA256SUMS"
            );
            checked += 1;
        }
        // The VM service, at the image's root where its CMD names it.
        assert!(
            sums.contains("  vm-service\n"),
            "vm-service not in SHA256SUMS"
        );
        assert_eq!(listed, 4, "SHA256SUMS lists exactly the binaries:\n{sums}");
        let mode = fs::metadata(root.join("metadata.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644);
    }
    assert_eq!(checked, 6);

    // Same sources, second run: byte-identical trees, mtimes included.
    let first = snapshot(&stage);
    run_ok(
        xtask(&target, &["stage", "--toolchain", "zigbuild"])
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    assert_eq!(
        first,
        snapshot(&stage),
        "re-staging the same sources changed the tree"
    );

    // Same sources, a clean build in another target dir: still byte-identical (no link
    // timestamps, no paths of the target dir in the binaries).
    let clean = target_dir("zigbuild-clean");
    let _ = fs::remove_dir_all(&clean);
    run_ok(
        xtask(&clean, &["stage", "--toolchain", "zigbuild"]).env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    assert_eq!(
        first,
        snapshot(&clean.join("dist/stage")),
        "a clean rebuild gave different bytes"
    );
    let _ = fs::remove_dir_all(&clean);

    // A failing run (bad metadata) leaves the last good tree exactly as it was.
    let bad = metadata_variant("broken-after-good", "{ nope");
    run_err(xtask(
        &target,
        &[
            "stage",
            "--toolchain",
            "zigbuild",
            "--metadata",
            bad.as_str(),
        ],
    ));
    assert_eq!(
        first,
        snapshot(&stage),
        "a failed run touched the staged tree"
    );
}
