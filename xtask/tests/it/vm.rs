//! The VM service in the pipeline, against the real tools: `verify` names a service that
//! would not start in its own image (wrong CPU, a dynamic one without its loader and
//! libraries, a shell-form command without a shell), and `dist`'s probe fails, with the
//! service's log, on a service that answers wrong or ignores SIGTERM. `dist`'s own
//! probes of this extension are checked by the dist tests (`service_probed`).

use std::fs;
use std::process::Command;

use crate::support::*;
use crate::verify::{Case, AMD64, ARM64};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use xtask::target::{Arch, ImagePlatform};

/// The command our generated Dockerfile runs, in shell form instead of exec form.
const SHELL_FORM: &str = "CMD /vm-service --socket /run/guest-services/host-facts.sock\n";

/// `--json`'s `service`: both variants' services ran and passed; the one this machine
/// cannot run natively under qemu-user (in the container with binfmt_misc, or on this
/// machine), saying so.
pub(crate) fn service_probed(service: &Value) {
    let runs = service
        .as_array()
        .expect("`service` lists one run per variant");
    assert_eq!(runs.len(), 2, "{service:#}");
    for (run, p) in runs.iter().zip(ImagePlatform::ALL) {
        assert_eq!(run["platform"], p.to_string(), "{service:#}");
        assert_eq!(run["outcome"], "passed", "{service:#}");
        assert!(run["took"].as_f64().is_some_and(|t| t > 0.0), "{service:#}");
        let how = run["how"].as_str().unwrap();
        if Arch::host() == Some(p.0) {
            assert_eq!(how, "container", "{service:#}");
        } else {
            assert!(how.contains("qemu"), "{service:#}");
        }
    }
}

/// The static ELF busybox Debian's busybox-static installs (x86_64 on this machine kind).
fn busybox() -> Option<Utf8PathBuf> {
    let path = Utf8Path::new("/usr/bin/busybox");
    let elf = fs::read(path)
        .ok()
        .and_then(|b| xtask::vm::read_elf(&b).ok());
    let ok = elf.is_some_and(|e| e.interpreter.is_none() && Arch::host() == Some(Arch::Amd64));
    require(
        "a static x86_64 /usr/bin/busybox",
        ok,
        "apt-get install busybox-static",
    )
    .then(|| path.to_owned())
}

fn dockerfile_with(case: &Case, cmd: &str) {
    let file = case.dir.join("context/Dockerfile");
    let ours = fs::read_to_string(root().join("extension/Dockerfile")).unwrap();
    let (head, _) = ours
        .split_once("CMD [")
        .expect("our Dockerfile runs the service");
    fs::write(file, format!("{head}{cmd}")).unwrap();
}

#[test]
fn verify_names_a_service_of_the_wrong_cpu_and_a_dynamic_one_without_its_loader() {
    let Some(case) = Case::new("vm-service-binaries") else {
        return;
    };
    // This machine's own dynamic /bin/sh as the amd64 service, the amd64 service in arm64.
    let sh = Utf8Path::new("/bin/sh");
    let elf = xtask::vm::read_elf(&fs::read(sh).unwrap()).unwrap();
    let Some(loader) = elf.interpreter.clone() else {
        panic!("/bin/sh is static here: no dynamic executable to test with");
    };
    if !require(
        "an x86_64 machine",
        Arch::host() == Some(Arch::Amd64),
        "run on amd64",
    ) {
        return;
    }
    fs::copy(
        case.path(AMD64, "vm-service"),
        case.path(ARM64, "vm-service"),
    )
    .unwrap();
    fs::copy(sh, case.path(AMD64, "vm-service")).unwrap();
    let mut expected = vec![
        "linux/arm64: /vm-service: service cpu: expected ELF arm64 (the variant's CPU), found ELF x86_64".to_owned(),
        format!("linux/amd64: /vm-service: service loader: expected its loader {loader} (PT_INTERP) in the image, found nothing"),
    ];
    for lib in &elf.needed {
        expected.push(format!(
            "linux/amd64: /vm-service: service library: expected {lib} (needed by /vm-service) in /lib/x86_64-linux-gnu, … found nothing"
        ));
    }
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    case.rejected(&ImagePlatform::ALL, &expected);
}

/// Docker's vm-service sample is `FROM alpine` with a shell-form `CMD`: valid where the
/// image has `/bin/sh` (here busybox, static, x86_64: wrong for arm64, which says so);
/// `FROM scratch` with a shell-form command is not.
#[test]
fn shell_form_command_needs_a_shell_in_the_image() {
    let Some(case) = Case::new("vm-shell-form") else {
        return;
    };
    let Some(busybox) = busybox() else { return };
    dockerfile_with(&case, SHELL_FORM);
    let no_shell = "/bin/sh: service shell: expected a shell in the image: the image config has a shell-form command `/vm-service --socket /run/guest-services/host-facts.sock`, found no /bin/sh";
    case.rejected(
        &ImagePlatform::ALL,
        &[
            &format!("linux/amd64: {no_shell}"),
            &format!("linux/arm64: {no_shell}"),
        ],
    );
    for p in ImagePlatform::ALL {
        fs::create_dir_all(case.path(p, "bin")).unwrap();
        fs::copy(&busybox, case.path(p, "bin/busybox")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", case.path(p, "bin/sh")).unwrap();
    }
    case.rejected(
        &ImagePlatform::ALL,
        &["linux/arm64: /bin/sh: service cpu: expected ELF arm64 (the variant's CPU), found ELF x86_64"],
    );
}

/// A local image of `platform` from `context` (a directory with a Dockerfile).
fn load(context: &Utf8Path, platform: ImagePlatform, tag: &str) {
    let out = run(Command::new("docker")
        .args(["buildx", "build", "--progress", "plain", "--load"])
        .args(["--platform", &platform.to_string(), "-t", tag])
        .arg(context));
    assert!(out.status.success(), "building {tag} failed");
}

/// Probes `image` as `platform`'s variant, the way `dist` does; returns the error.
fn probe_fails(image: &str, platform: ImagePlatform, stage: &Utf8Path) -> String {
    let service = xtask::probe::Service {
        socket: "host-facts.sock".into(),
        bin: "/vm-service".into(),
        stage: stage.to_owned(),
        version: xtask::workspace::load().unwrap().version,
    };
    let variant = xtask::probe::Variant {
        platform,
        image: image.into(),
    };
    let rep = xtask::progress::Reporter::new(false);
    let mut probed = Vec::new();
    let e = xtask::probe::run_all(&rep, &[variant], Some(&service), &mut probed)
        .expect_err("the probe passed a broken service");
    assert_eq!(probed[0]["outcome"], "failed", "{probed:?}");
    format!("{e:#}")
}

/// The real service in images that break what Docker Desktop relies on: an amd64
/// service in the arm64 variant (it answers, but for the wrong CPU: binfmt_misc runs the
/// x86_64 code natively), and a shell as PID 1 that ignores SIGTERM.
#[test]
fn a_service_that_answers_wrong_or_ignores_sigterm_fails_the_probe_with_its_log() {
    if !dist_ready() {
        return;
    }
    let Some(busybox) = busybox() else { return };
    let stage = staged().expect("dist_ready checked zig");
    let dir = target_dir("vm-probe");
    let _ = fs::remove_dir_all(&dir);
    let context = dir.join("wrong-cpu");
    fs::create_dir_all(&context).unwrap();
    fs::copy(
        stage.join("linux-amd64/vm-service"),
        context.join("vm-service"),
    )
    .unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY vm-service /\nCMD [\"/vm-service\", \"--socket\", \"/run/guest-services/host-facts.sock\"]\n",
    )
    .unwrap();
    // Under binfmt_misc only: without it, the arm64 container cannot start at all (and the
    // probe would run the staged arm64 binary instead).
    if xtask::probe::how(ARM64) == Ok(xtask::probe::How::ContainerQemu) {
        load(&context, ARM64, "xtask-it/vm-wrong-cpu:1");
        let e = probe_fails("xtask-it/vm-wrong-cpu:1", ARM64, stage);
        assert!(
            e.contains(
                "GET /facts: `arch`: expected \"arm64\" (the variant's CPU), found \"amd64\""
            ) && e.contains("--- service log:\n")
                && e.contains("/health"),
            "{e}"
        );
    } else {
        require(
            "qemu-aarch64 registered with binfmt_misc",
            false,
            "bash .ci/install-emulators.sh",
        );
    }

    let context = dir.join("ignores-sigterm");
    fs::create_dir_all(context.join("bin")).unwrap();
    fs::copy(
        stage.join("linux-amd64/vm-service"),
        context.join("vm-service"),
    )
    .unwrap();
    fs::copy(&busybox, context.join("bin/sh")).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY . /\nCMD [\"/bin/sh\", \"-c\", \"trap '' TERM; /vm-service --socket /run/guest-services/host-facts.sock & wait\"]\n",
    )
    .unwrap();
    load(&context, AMD64, "xtask-it/vm-ignores-sigterm:1");
    let e = probe_fails("xtask-it/vm-ignores-sigterm:1", AMD64, stage);
    assert!(
        e.contains("SIGTERM: expected exit code 0 within 10s, found exit code 137")
            && e.contains("--- service log:\n")
            && e.contains("/facts"),
        "{e}"
    );
    for tag in ["xtask-it/vm-wrong-cpu:1", "xtask-it/vm-ignores-sigterm:1"] {
        let _ = Command::new("docker").args(["image", "rm", tag]).output();
    }
}

/// metadata.json's `vm` mistakes stop `stage` before anything compiles, naming the file
/// and the field.
#[test]
fn bad_vm_sections_are_named_before_anything_compiles() {
    let target = target_dir("vm-bad-metadata");
    for (name, vm, want) in [
        ("vm-neither", r#"{"exposes": {"socket": "s.sock"}}"#, "`vm`: expected `image` or `composefile`"),
        (
            "vm-socket-path",
            r#"{"image": "${DESKTOP_PLUGIN_IMAGE}", "exposes": {"socket": "run/s.sock"}}"#,
            "`vm.exposes.socket`: expected a socket file name like `service.sock` (created in /run/guest-services), found `run/s.sock`",
        ),
        ("vm-compose-not-yaml", r#"{"composefile": "docker-compose.yaml"}"#, "not valid YAML"),
        ("vm-compose-no-service", r#"{"composefile": "docker-compose.yaml"}"#, "`services`: expected at least one service"),
    ] {
        let meta = metadata_variant(
            name,
            &format!(r#"{{"icon": "icon.svg", "vm": {vm}, "host": {{"binaries": [{{"linux": [{{"path": "/linux/host-bin"}}]}}]}}}}"#),
        );
        let compose = meta.with_file_name("docker-compose.yaml");
        match name {
            "vm-compose-not-yaml" => fs::write(&compose, "services: [oops\n").unwrap(),
            "vm-compose-no-service" => fs::write(&compose, "version: '3.8'\n").unwrap(),
            _ => {}
        }
        let err = run_err(xtask(&target, &["stage", "--dry-run", "--metadata", meta.as_str()]));
        assert!(err.contains(meta.as_str()) && err.contains(want), "{name}: {err}");
        assert!(!err.contains("Compiling"), "{name}: compiled before failing: {err}");
    }
}

/// Docker's own samples (extensions-sdk): the vm-service sample's metadata with its
/// compose file, the Kubernetes sample's `"root": "ui"`, both planned by `stage --dry-run`.
#[test]
fn dockers_sample_metadata_files_stay_valid() {
    let target = target_dir("vm-samples");
    let vm_service = metadata_variant(
        "sample-vm-service",
        r#"{"icon": "icon.svg",
            "vm": {"composefile": "docker-compose.yaml", "exposes": {"socket": "extension-volumes.sock"}},
            "ui": {"dashboard-tab": {"title": "Volumes", "root": "/ui", "src": "index.html",
                                     "backend": {"socket": "extension-volumes.sock"}}},
            "host": {"binaries": [{"linux": [{"path": "/linux/host-bin"}]}]}}"#,
    );
    fs::write(
        vm_service.with_file_name("docker-compose.yaml"),
        "services:\n  vm-service:\n    image: ${DESKTOP_PLUGIN_IMAGE}\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n",
    )
    .unwrap();
    let out = run_ok(xtask(
        &target,
        &["stage", "--dry-run", "--metadata", vm_service.as_str()],
    ));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("docker-compose.yaml <- ")
            && plan.contains("vm-service <- ")
            && plan.contains("--bin vm-service"),
        "the compose file and the service are staged:\n{plan}"
    );
    let kubernetes = metadata_variant(
        "sample-kubernetes",
        r#"{"icon": "icon.svg",
            "ui": {"dashboard-tab": {"title": "Kubernetes Sample", "src": "index.html", "root": "ui"}},
            "host": {"binaries": [{"linux": [{"path": "/linux/host-bin"}]}]}}"#,
    );
    let out = run_ok(xtask(
        &target,
        &["stage", "--dry-run", "--metadata", kubernetes.as_str()],
    ));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("ui <- ") && !plan.contains("vm-service"),
        "no vm section: no service built:\n{plan}"
    );
}
