//! `cargo xtask verify` rejects broken extension images. Each case copies a good staged
//! tree (both platforms), breaks one thing, builds and pushes the image itself with
//! buildx (per platform, merged with `imagetools create`) to a real registry, and
//! expects verify to fail naming the variant, the path or label, and expected vs found.
//! The unmodified copy must pass: the harness is proven to build a good image.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::binaries::*;
use crate::support::registry::Registry;
use crate::support::*;
use camino::Utf8PathBuf;
use xtask::labels::Labels;
use xtask::target::{Arch, ImagePlatform};

pub(crate) const AMD64: ImagePlatform = ImagePlatform(Arch::Amd64);
pub(crate) const ARM64: ImagePlatform = ImagePlatform(Arch::Arm64);
const TAG: &str = "0.1.0";

/// Shared with the VM service's cases (`vm.rs`).
pub(crate) struct Case {
    name: &'static str,
    pub(crate) dir: Utf8PathBuf,
    reg: Registry,
}

impl Case {
    /// A copy of the staged tree with the committed Dockerfile, and a registry of its own.
    pub(crate) fn new(name: &'static str) -> Option<Case> {
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
    pub(crate) fn path(&self, p: ImagePlatform, rel: &str) -> Utf8PathBuf {
        self.dir.join("context").join(p.stage_name()).join(rel)
    }

    /// Regenerates the Dockerfile from our labels as `change` leaves them.
    fn labels(&self, change: impl FnOnce(&mut Labels)) {
        let mut labels = xtask::labels::load(&root().join("extension/labels.json")).unwrap();
        change(&mut labels);
        fs::write(
            self.dir.join("context/Dockerfile"),
            xtask::labels::dockerfile(
                &labels,
                Some(&xtask::codegen::service_command(
                    "vm-service",
                    Some("host-facts.sock"),
                )),
            ),
        )
        .unwrap();
    }

    /// Builds and pushes each platform, merges them into `REG/NAME:0.1.0`, returns that.
    pub(crate) fn publish(&self, platforms: &[ImagePlatform]) -> String {
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

    pub(crate) fn verify(&self, reference: &str) -> std::process::Output {
        run(xtask(&self.dir.join("target"), &["verify", reference]))
    }

    /// Publishes, verifies, and expects a rejection whose problems are exactly the
    /// `expected` ones: every problem line matches one of them, and each is reported.
    /// In a pattern, ` … ` stands for anything on the same line.
    pub(crate) fn rejected(&self, platforms: &[ImagePlatform], expected: &[&str]) {
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
    let reference = case.publish(&ImagePlatform::ALL);
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
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
        &ImagePlatform::ALL,
        &["linux/amd64: /ui/index.html: UI entry point of `ui.dashboard-tab` is missing"],
    );
}

impl Case {
    /// Puts `bytes` at `rel` in one variant and lists their checksum in its SHA256SUMS,
    /// so that only the rule under test can fail.
    fn replace(&self, p: ImagePlatform, rel: &str, bytes: &[u8]) {
        let path = self.path(p, rel);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let sums = self.path(p, "SHA256SUMS");
        let text: String = fs::read_to_string(&sums)
            .unwrap()
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((_, f)) if f == rel => {
                    format!("{}  {f}\n", xtask::digest::sha256_bytes_hex(bytes))
                }
                _ => format!("{l}\n"),
            })
            .collect();
        fs::write(&sums, text).unwrap();
    }
}

/// Where this machine's own (gcc-built) ELF belongs.
fn host_platform() -> ImagePlatform {
    match std::env::consts::ARCH {
        "aarch64" => ARM64,
        _ => AMD64,
    }
}

/// Binaries that would not load on their OS, one rule each, in a pushed image: verify
/// names each with its variant, path, rule, expected and found.
#[test]
fn binaries_that_would_not_load() {
    let Some(case) = Case::new("would-not-load") else {
        return;
    };
    let (Some(brew), Some(pe), Some(elf)) = (
        homebrew_macho("verify-homebrew", "x86_64-macos"),
        mingw_exes("verify-pe"),
        dynamic_elf("verify-elf"),
    ) else {
        return;
    };
    let signed = fs::read(case.path(ARM64, "darwin/host-bin")).unwrap();
    let unsigned = drop_load_command(&signed, LC_CODE_SIGNATURE);
    case.replace(ARM64, "darwin/host-bin", &unsigned);
    case.replace(AMD64, "darwin/host-bin", &fs::read(brew).unwrap());
    case.replace(
        AMD64,
        "windows/host-bin.exe",
        &fs::read(pe.join("threads.exe")).unwrap(),
    );
    let elf_at = host_platform();
    case.replace(elf_at, "linux/host-bin", &fs::read(elf).unwrap());
    let interpreter = match elf_at {
        ARM64 => "/lib/ld-linux-aarch64.so.1",
        _ => "/lib64/ld-linux-x86-64.so.2",
    };
    case.rejected(
        &ImagePlatform::ALL,
        &[
            "linux/arm64: /darwin/host-bin: code signature: expected LC_CODE_SIGNATURE (Apple silicon kills unsigned arm64 code; ad-hoc is enough), found none",
            "linux/amd64: /darwin/host-bin: dylib: expected a system library under /usr/lib/ or /System/Library/, found /opt/homebrew/lib/libfoo.dylib",
            "linux/amd64: /windows/host-bin.exe: DLL: expected a DLL every Windows 10 has (system DLL or api-ms-win-*/ext-ms-* API set), found libwinpthread-1.dll (MinGW's runtime: link it statically)",
            &format!("{elf_at}: /linux/host-bin: static: expected a static executable (no PT_INTERP), found a dynamic one with interpreter {interpreter}"),
        ],
    );
}

/// A GUI-subsystem PE, a Mach-O for a newer macOS than Docker Desktop's floor, and a
/// binary no metadata entry names.
#[test]
fn gui_pe_newer_macos_and_an_unnamed_binary() {
    let Some(case) = Case::new("gui-newer-unnamed") else {
        return;
    };
    let (Some(pe), Some(new)) = (mingw_exes("verify-gui"), newer_macos("verify-newer")) else {
        return;
    };
    case.replace(
        AMD64,
        "windows/host-bin.exe",
        &fs::read(pe.join("gui.exe")).unwrap(),
    );
    case.replace(ARM64, "darwin/host-bin", &fs::read(new).unwrap());
    fs::copy(
        case.path(ARM64, "linux/host-bin"),
        case.path(ARM64, "linux/extra-tool"),
    )
    .unwrap();
    case.rejected(
        &ImagePlatform::ALL,
        &[
            "linux/amd64: /windows/host-bin.exe: subsystem: expected console (IMAGE_SUBSYSTEM_WINDOWS_CUI), found GUI (IMAGE_SUBSYSTEM_WINDOWS_GUI; a host binary is a command-line program whose stdout ddClient.extension.host.cli.exec reads)",
            "linux/arm64: /darwin/host-bin: minimum macOS: expected 14.0 or older, found 15.0",
            "linux/arm64: /linux/extra-tool: shipped under /linux but metadata.json's host.binaries does not name it (it never reaches a user)",
        ],
    );
}

/// metadata.json as strict as Docker's validator: an unknown key (`hosts` for `host`)
/// and a compose file it names but the image lacks.
#[test]
fn metadata_with_an_unknown_key_or_a_missing_compose_file() {
    let Some(case) = Case::new("metadata-strict") else {
        return;
    };
    let edit = |p: ImagePlatform, f: &dyn Fn(&mut serde_json::Value)| {
        let path = case.path(p, "metadata.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        f(&mut v);
        fs::write(&path, v.to_string()).unwrap();
    };
    edit(ARM64, &|v| {
        let host = v.as_object_mut().unwrap().remove("host").unwrap();
        v["hosts"] = host;
    });
    edit(AMD64, &|v| {
        v["vm"] = serde_json::json!({"composefile": "docker-compose.yaml"});
    });
    case.rejected(
        &ImagePlatform::ALL,
        &[
            "linux/arm64: /metadata.json: … unknown field `hosts`, expected one of `icon`, `ui`, `vm`, `host`",
            "linux/amd64: /metadata.json: `vm.composefile` names /docker-compose.yaml, which does not exist",
        ],
    );
}

/// A universal Mach-O holding both CPUs is a valid Mac binary in either variant.
#[test]
fn a_universal_mach_o_is_accepted() {
    let Some(case) = Case::new("universal") else {
        return;
    };
    let x86 = fs::read(case.path(AMD64, "darwin/host-bin")).unwrap();
    let arm = fs::read(case.path(ARM64, "darwin/host-bin")).unwrap();
    let both = fat(&[(CPU_TYPE_X86_64, &x86), (CPU_TYPE_ARM64, &arm)]);
    for p in ImagePlatform::ALL {
        case.replace(p, "darwin/host-bin", &both);
    }
    let reference = case.publish(&ImagePlatform::ALL);
    let out = case.verify(&reference);
    assert!(
        out.status.success(),
        "a universal binary was rejected:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
