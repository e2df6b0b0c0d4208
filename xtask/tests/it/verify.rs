//! `cargo xtask verify` rejects broken extension images. Each case copies a good staged
//! tree (both platforms), breaks one thing, builds and pushes the image itself with
//! buildx (per platform, merged with `imagetools create`) to a real registry, and
//! expects verify to fail naming the variant, the path or label, and expected vs found.
//! The unmodified copy must pass: the harness is proven to build a good image.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::registry::Registry;
use crate::support::*;
use camino::Utf8PathBuf;
use xtask::labels::Labels;
use xtask::target::{Arch, Platform};

const AMD64: Platform = Platform(Arch::Amd64);
const ARM64: Platform = Platform(Arch::Arm64);
const TAG: &str = "0.1.0";

struct Case {
    name: &'static str,
    dir: Utf8PathBuf,
    reg: Registry,
}

impl Case {
    /// A copy of the staged tree with the committed Dockerfile, and a registry of its own.
    fn new(name: &'static str) -> Option<Case> {
        if !dist_ready() {
            return None;
        }
        let stage = staged().expect("dist_ready checked zig");
        let reg = Registry::start()?;
        let dir = target_dir("verify-cases").join(name);
        let _ = fs::remove_dir_all(&dir);
        let context = dir.join("context");
        for file in xtask::digest::walk_files(stage).unwrap() {
            let to = context.join(file.strip_prefix(stage).unwrap());
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(&file, &to).unwrap(); // with its mode
        }
        fs::copy(
            root().join("extension/Dockerfile"),
            context.join("Dockerfile"),
        )
        .unwrap();
        Some(Case { name, dir, reg })
    }

    /// A file of one variant's tree.
    fn path(&self, p: Platform, rel: &str) -> Utf8PathBuf {
        self.dir.join("context").join(p.stage_name()).join(rel)
    }

    /// Regenerates the Dockerfile from our labels as `change` leaves them.
    fn labels(&self, change: impl FnOnce(&mut Labels)) {
        let mut labels = xtask::labels::load(&root().join("extension/labels.json")).unwrap();
        change(&mut labels);
        fs::write(
            self.dir.join("context/Dockerfile"),
            xtask::labels::dockerfile(&labels),
        )
        .unwrap();
    }

    /// Builds and pushes each platform, merges them into `REG/NAME:0.1.0`, returns that.
    fn publish(&self, platforms: &[Platform]) -> String {
        let repo = self.reg.image(self.name);
        let mut manifests = Vec::new();
        for p in platforms {
            let md = self.dir.join(format!("{}.json", p.stage_name()));
            let out = run(Command::new("docker")
                .args(["buildx", "build", "--progress", "plain"])
                .args(["--platform", &p.to_string(), "--push"])
                .args(["-t", &format!("{repo}:{TAG}-{}", p.0.docker())])
                .args(["--metadata-file", md.as_str()])
                .arg(self.dir.join("context")));
            assert!(out.status.success(), "building {p} failed");
            let md: serde_json::Value = serde_json::from_slice(&fs::read(&md).unwrap()).unwrap();
            let digest = md["containerimage.digest"].as_str().expect("pushed digest");
            manifests.push(format!("{repo}@{digest}"));
        }
        let reference = format!("{repo}:{TAG}");
        let out = run(Command::new("docker")
            .args(["buildx", "imagetools", "create", "-t", &reference])
            .args(&manifests));
        assert!(out.status.success(), "imagetools create failed");
        reference
    }

    fn verify(&self, reference: &str) -> std::process::Output {
        run(xtask(&self.dir.join("target"), &["verify", reference]))
    }

    /// Publishes, verifies, and expects a rejection whose problems are exactly the
    /// `expected` ones: every problem line matches one of them, and each is reported.
    /// In a pattern, ` … ` stands for anything on the same line.
    fn rejected(&self, platforms: &[Platform], expected: &[&str]) {
        let reference = self.publish(platforms);
        let out = self.verify(&reference);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "verify accepted a broken image");
        let header = format!("{reference} failed verification, ");
        let problems: Vec<&str> = err
            .lines()
            .skip_while(|l| !l.contains(&header))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        assert!(!problems.is_empty(), "no problem list in:\n{err}");
        for p in &problems {
            assert!(
                expected.iter().any(|e| matches(p, e)),
                "unexpected problem `{p}`; expected only {expected:#?}"
            );
        }
        for e in expected {
            assert!(
                problems.iter().any(|p| matches(p, e)),
                "`{e}` not reported; problems: {problems:#?}"
            );
        }
        assert!(
            err.contains(&format!("{header}{} problem(s)", problems.len())),
            "{err}"
        );
    }
}

/// `line` contains the parts of `pattern` (split at ` … `) in order.
fn matches(line: &str, pattern: &str) -> bool {
    let mut rest = line;
    for part in pattern.split(" … ") {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn control_the_unmodified_tree_verifies() {
    let Some(case) = Case::new("control") else {
        return;
    };
    let reference = case.publish(&Platform::ALL);
    let out = case.verify(&reference);
    assert!(out.status.success(), "the good image was rejected");
    let digest = case.reg.manifest_digest(&reference).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{reference}: verified index {digest}")),
        "{stdout}"
    );
}

#[test]
fn missing_platform() {
    let Some(case) = Case::new("missing-platform") else {
        return;
    };
    case.rejected(
        &[AMD64],
        &["index: platform linux/arm64 is missing (found: linux/amd64)"],
    );
}

#[test]
fn binary_of_the_wrong_cpu() {
    let Some(case) = Case::new("wrong-cpu") else {
        return;
    };
    fs::copy(
        case.path(AMD64, "linux/host-bin"),
        case.path(ARM64, "linux/host-bin"),
    )
    .unwrap();
    case.rejected(
        &Platform::ALL,
        &[
            "linux/arm64: /linux/host-bin: expected ELF arm64, found ELF x86_64",
            // The image's own SHA256SUMS still lists the arm64 binary.
            "linux/arm64: /linux/host-bin: checksum ",
        ],
    );
}

#[test]
fn elf_where_a_pe_belongs() {
    let Some(case) = Case::new("elf-for-pe") else {
        return;
    };
    fs::copy(
        case.path(AMD64, "linux/host-bin"),
        case.path(AMD64, "windows/host-bin.exe"),
    )
    .unwrap();
    case.rejected(
        &Platform::ALL,
        &[
            "linux/amd64: /windows/host-bin.exe: expected PE x86_64, found ELF x86_64",
            "linux/amd64: /windows/host-bin.exe: checksum ",
        ],
    );
}

#[test]
fn path_named_in_metadata_but_absent() {
    let Some(case) = Case::new("absent-binary") else {
        return;
    };
    fs::remove_file(case.path(ARM64, "darwin/host-bin")).unwrap();
    case.rejected(
        &Platform::ALL,
        &["linux/arm64: /darwin/host-bin: named in metadata.json but absent"],
    );
}

#[test]
fn invalid_metadata_json() {
    let Some(case) = Case::new("invalid-metadata") else {
        return;
    };
    let path = case.path(AMD64, "metadata.json");
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    case.rejected(
        &Platform::ALL,
        &["linux/amd64: /metadata.json: … not a valid extension metadata file: EOF while parsing"],
    );
}

#[test]
fn required_label_missing() {
    let Some(case) = Case::new("label-missing") else {
        return;
    };
    case.labels(|l| {
        l.remove("org.opencontainers.image.vendor").unwrap();
    });
    case.rejected(
        &Platform::ALL,
        &[
            "linux/amd64: label `org.opencontainers.image.vendor` is missing (required)",
            "linux/arm64: label `org.opencontainers.image.vendor` is missing (required)",
        ],
    );
}

#[test]
fn screenshots_label_not_json() {
    let Some(case) = Case::new("screenshots-not-json") else {
        return;
    };
    case.labels(|l| {
        l.insert(
            "com.docker.extension.screenshots".into(),
            "dashboard.png".into(),
        );
    });
    let want = r#"label `com.docker.extension.screenshots`: expected a non-empty JSON array of {"alt": "...", "url": "https://..."}, found `dashboard.png`"#;
    case.rejected(
        &Platform::ALL,
        &[
            &format!("linux/amd64: {want}"),
            &format!("linux/arm64: {want}"),
        ],
    );
}

#[test]
fn binary_not_executable() {
    let Some(case) = Case::new("not-executable") else {
        return;
    };
    let path = case.path(ARM64, "linux/host-bin");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    case.rejected(
        &Platform::ALL,
        &["linux/arm64: /linux/host-bin: expected an executable file (mode 0755), found mode 644"],
    );
}

#[test]
fn ui_entry_point_missing() {
    let Some(case) = Case::new("no-ui-entry") else {
        return;
    };
    fs::remove_file(case.path(AMD64, "ui/index.html")).unwrap();
    case.rejected(
        &Platform::ALL,
        &["linux/amd64: /ui/index.html: UI entry point of `ui.dashboard-tab` is missing"],
    );
}
