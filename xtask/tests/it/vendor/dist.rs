//! The whole pipeline with vendored binaries: `vendor lock`, `dist --push`, `verify`,
//! an independent export of each variant, and faults through the CLI.

use std::fs;
use std::process::Command;

use xtask::vendor::{HostPlatform, Os};

use super::mirror::{k8s_path, Mirror};
use super::{fixture, p, platform_of, ready, HELM, K1};

/// The whole pipeline with third-party binaries: an extension that ships host-bin, kubectl
/// (raw binaries) and helm (tar.gz, zip on Windows, the amd64 build for arm64 Windows by a
/// declared fallback) on all six platforms. `cargo xtask vendor lock` pins the example
/// manifest from the mirror's checksum files, `dist --push` publishes, `verify` agrees, and
/// an independent export of each variant shows every file with the right header and the
/// mirror's exact bytes.
#[test]
fn dist_ships_kubectl_and_helm_beside_host_bin_on_all_six_platforms() {
    if !(ready() && crate::support::dist_ready()) {
        return;
    }
    let _s = crate::support::serial();
    let Some(reg) = crate::support::registry::Registry::start() else {
        return;
    };
    let m = Mirror::start("dist");
    let ours: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(crate::support::root().join("extension/metadata.json")).unwrap(),
    )
    .unwrap();
    let mut meta = ours.clone();
    meta["host"]["binaries"] = serde_json::json!([{
        "darwin": [{"path": "/darwin/host-bin"}, {"path": "/darwin/kubectl"}, {"path": "/darwin/helm"}],
        "windows": [{"path": "/windows/host-bin.exe"}, {"path": "/windows/kubectl.exe"}, {"path": "/windows/helm.exe"}],
        "linux": [{"path": "/linux/host-bin"}, {"path": "/linux/kubectl"}, {"path": "/linux/helm"}],
    }]);
    let meta = crate::support::metadata_variant("vendored", &meta.to_string());
    let example = crate::support::root().join("extension/vendor.example.toml");
    fs::copy(example, meta.with_file_name("vendor.toml")).unwrap();
    let env = |mut c: Command| {
        c.env("XTASK_VENDOR_MIRROR", m.mirror_spec())
            .env("XTASK_VENDOR_CACHE", m.dir.join("cache"));
        c
    };
    let target = crate::support::target_dir("dist");
    let out = crate::support::run_ok(env(crate::support::xtask(
        &target,
        &["vendor", "lock", "--metadata", meta.as_str()],
    )));
    let changes = String::from_utf8_lossy(&out.stdout);
    assert!(
        changes.contains("kubectl.sha256.linux-arm64: (none) -> ")
            && changes.contains("helm.sha256.windows-amd64: (none) -> ")
            && !changes.contains("helm.sha256.windows-arm64"),
        "{changes}"
    );
    let before = m.server.total();

    let image = reg.image("vendored");
    let out = crate::support::run_ok(env(crate::support::xtask(
        &target,
        &[
            "dist",
            "--toolchain",
            "zigbuild",
            "--metadata",
            meta.as_str(),
            "--image",
            &image,
            "--tag",
            "0.1.0",
            "--push",
            "--json",
        ],
    )));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("helm for windows-arm64 is the windows-amd64 build (fallback in vendor.toml"),
        "the fallback is said out loud:\n{log}"
    );
    // kubectl: 6 binaries; helm: 5 archives (windows-arm64 takes windows-amd64's).
    assert_eq!(m.server.total() - before, 11, "downloads");
    for (p, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let v = &json["vendored"][p];
        assert_eq!(v.as_object().unwrap().len(), 6, "{json:#}");
        // arm64 Windows ships the amd64 build: the fallback the example declares.
        assert_eq!(
            v["windows/helm.exe"]["built_for"], "windows-amd64",
            "{arch}: {json:#}"
        );
        assert_eq!(v["linux/kubectl"]["version"], K1);
        // The smoke run ran the vendored Linux binaries too (natively, or under qemu).
        let smoke = json["smoke"][p].as_array().unwrap();
        for path in ["linux/kubectl", "linux/helm"] {
            let s = smoke.iter().find(|s| s["path"] == path).unwrap();
            assert_eq!(s["outcome"], "passed", "{p} {path}: {s}");
        }
    }

    // Independently: each variant's files, by their headers and bytes.
    let reference = format!("{image}:0.1.0");
    let index: serde_json::Value =
        serde_json::from_slice(&reg.raw_manifest(&reference).unwrap()).unwrap();
    for manifest in index["manifests"].as_array().unwrap() {
        let (os, arch) = (
            &manifest["platform"]["os"],
            &manifest["platform"]["architecture"],
        );
        if os != "linux" {
            continue;
        }
        let platform =
            xtask::target::ImagePlatform::parse(&format!("linux/{}", arch.as_str().unwrap()))
                .unwrap();
        let digest = manifest["digest"].as_str().unwrap();
        let fs_root = crate::support::export_fs(
            &format!("{image}@{digest}"),
            platform,
            &crate::support::target_dir("vendor-export").join(platform.stage_name()),
        );
        for os in [Os::Darwin, Os::Windows, Os::Linux] {
            for tool in ["kubectl", "helm"] {
                let file = fs_root
                    .join(os.dir())
                    .join(format!("{tool}{}", os.exe_suffix()));
                let bytes = fs::read(&file).unwrap_or_else(|_| panic!("{file} missing"));
                let want_arch = match (tool, os, arch.as_str().unwrap()) {
                    ("helm", Os::Windows, _) => "amd64",
                    (_, _, a) => a,
                };
                let want = HostPlatform::parse(&format!("{}-{want_arch}", os.dir())).unwrap();
                assert_eq!(platform_of(&bytes), Some(want), "{file}");
                let version = if tool == "kubectl" { K1 } else { HELM };
                assert_eq!(
                    bytes,
                    fixture(tool, version, want),
                    "{file}: the mirror's bytes"
                );
            }
        }
    }
    crate::support::run_ok(crate::support::xtask(
        &crate::support::target_dir("vendor-verify"),
        &["verify", "--metadata", meta.as_str(), &reference],
    ));

    // Faults through the CLI leave the staged tree as the last good run left it.
    let staged = target.join("dist/stage");
    let good = crate::support::snapshot(&staged);
    let manifest = meta.with_file_name("vendor.toml");
    let pinned = fs::read_to_string(&manifest).unwrap();
    let linux_amd64 = m.sha(&k8s_path(K1, p("linux-amd64")));
    let wrong = "0".repeat(64);
    fs::write(&manifest, pinned.replace(&linux_amd64, &wrong)).unwrap();
    let err = crate::support::run_err(env(crate::support::xtask(
        &target,
        &[
            "stage",
            "--toolchain",
            "zigbuild",
            "--metadata",
            meta.as_str(),
        ],
    )));
    let url = format!(
        "{}/k8s/release/v{K1}/bin/linux/amd64/kubectl",
        m.server.base
    );
    assert!(
        err.contains(&format!("cannot fetch kubectl for linux-amd64 from {url}"))
            && err.contains(&format!(
                "checksum mismatch: expected sha256 {wrong}, found {linux_amd64}"
            )),
        "{err}"
    );
    assert!(
        crate::support::snapshot(&staged) == good,
        "a failed stage changed the staged tree"
    );
    // Offline with a cold cache: says what is missing and how to fill the cache.
    fs::write(&manifest, &pinned).unwrap();
    let err = crate::support::run_err(
        env(crate::support::xtask(
            &target,
            &[
                "stage",
                "--toolchain",
                "zigbuild",
                "--offline",
                "--metadata",
                meta.as_str(),
            ],
        ))
        .env("XTASK_VENDOR_CACHE", m.dir.join("cold-cache")),
    );
    assert!(
        err.contains("offline (--offline or CARGO_NET_OFFLINE=true)")
            && err.contains("cargo xtask vendor fetch"),
        "{err}"
    );
    assert!(
        crate::support::snapshot(&staged) == good,
        "a failed stage changed the staged tree"
    );
}
