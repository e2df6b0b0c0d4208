//! SBOMs: `dist --sbom` with a generator image of the test's own (BuildKit's scanning
//! protocol, a static busybox and a script) on Docker Desktop's builder; the SPDX
//! document it attaches to each platform lists every staged binary with its checksum.
//! And on a builder that cannot attach attestations, `--sbom` is refused up front.

use std::process::Command;

use serde_json::Value;
use xtask::target::ImagePlatform;

use crate::support::registry::Registry;
use crate::support::*;

/// Builds the scanner image for this machine's CPU and pushes it to `reg`.
fn scanner_image(reg: &Registry, docker_host: &str) -> String {
    let ctx = target_dir("sbom-scanner");
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(&ctx).unwrap();
    for f in ["Dockerfile", "scan.sh"] {
        std::fs::copy(
            root().join("xtask/tests/data/sbom-scanner").join(f),
            ctx.join(f),
        )
        .unwrap();
    }
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    let image = reg.image("scanner:1");
    run_ok(
        Command::new("docker")
            .args([
                "buildx",
                "build",
                "--provenance=false",
                "--push",
                "--tag",
                &image,
            ])
            .arg(ctx.as_str())
            .env("DOCKER_HOST", docker_host),
    );
    image
}

#[test]
fn sbom_lists_every_staged_binary() {
    if !dist_ready()
        || !require(
            "busybox-static (/bin/busybox)",
            std::path::Path::new("/bin/busybox").exists(),
            "apt-get install busybox-static",
        )
    {
        return;
    }
    let Some((host, _s, reg)) = containerd_registry() else {
        return;
    };
    let scanner = scanner_image(&reg, &host);
    let image = reg.image("sbom");
    let target = target_dir("dist");
    let out = run_ok(
        xtask(
            &target,
            &[
                "dist",
                "--toolchain",
                "zigbuild",
                "--image",
                &image,
                "--tag",
                "0.1.0",
                "--push",
                "--json",
                "--sbom",
                "--sbom-generator",
                &scanner,
            ],
        )
        .env("DOCKER_HOST", &host),
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let index = reg.manifest("sbom", "0.1.0");
    for p in ImagePlatform::ALL {
        let types = json["attestations"][p.to_string()].to_string();
        assert!(
            types.contains("https://spdx.dev/Document") && types.contains("slsa.dev/provenance"),
            "{p}: {json:#}"
        );
        // The attestation manifest for this platform, its SPDX layer, the document.
        let digest = json["platforms"][p.to_string()].as_str().unwrap();
        let attestation = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["vnd.docker.reference.digest"] == digest)
            .unwrap_or_else(|| panic!("{p}: no attestation manifest in {index:#}"));
        let manifest = reg.manifest("sbom", attestation["digest"].as_str().unwrap());
        let layer = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["annotations"]["in-toto.io/predicate-type"] == "https://spdx.dev/Document")
            .expect("an SPDX layer");
        let statement: Value =
            serde_json::from_slice(&reg.blob("sbom", layer["digest"].as_str().unwrap())).unwrap();
        let spdx = &statement["predicate"];
        assert_eq!(spdx["spdxVersion"], "SPDX-2.3", "{statement:#}");
        let files: Vec<(String, String)> = spdx["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["fileName"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("./")
                        .to_owned(),
                    f["checksums"][0]["checksumValue"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        let staged = json["checksums"][p.to_string()].as_object().unwrap();
        // host-bin for three OSes, and the VM service.
        assert_eq!(staged.len(), 4, "{json:#}");
        for (path, sum) in staged {
            assert!(
                files.contains(&(path.clone(), sum.as_str().unwrap().to_owned())),
                "{p}: /{path} with its checksum is not in the SBOM: {files:?}"
            );
        }
    }
}

#[test]
fn sbom_on_a_builder_that_cannot_attest_is_refused_before_compiling() {
    if !dist_ready() {
        return;
    }
    let target = target_dir("sbom-refused");
    let err = run_err(xtask(
        &target,
        &[
            "dist",
            "--toolchain",
            "zigbuild",
            "--image",
            "127.0.0.1:1/x",
            "--push",
            "--sbom",
        ],
    ));
    assert!(
        err.contains("--sbom: builder `default` (driver docker, classic image store) cannot attach attestations"),
        "{err}"
    );
    assert!(!err.contains("cargo zigbuild"), "compiled first: {err}");
}
