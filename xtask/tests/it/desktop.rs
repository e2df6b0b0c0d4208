//! install / update / dev drive Docker Desktop's `docker extension` CLI plugin. Docker
//! Desktop cannot run on this machine, so:
//! - without the plugin (the real situation here) each command must say so and fail;
//! - with a STAND-IN plugin (a shell script registered as a docker CLI plugin, because the
//!   real one ships only inside Docker Desktop) `install` must build the image locally
//!   and then call `docker extension install -f IMAGE:TAG`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::registry::docker_ready;
use crate::support::*;

#[test]
fn without_docker_desktop_each_command_says_so() {
    if !docker_ready() {
        return;
    }
    for cmd in ["install", "update", "dev"] {
        let target = target_dir("desktop");
        let err = run_err(xtask(&target, &[cmd]));
        assert!(
            err.contains("`docker extension` CLI plugin is not available")
                && err.contains("Docker Desktop"),
            "{cmd}: {err}"
        );
        assert!(
            !target.join("dist/stage").exists(),
            "{cmd} did work before checking for the plugin"
        );
    }
}

#[test]
fn install_builds_then_hands_the_image_to_docker_extension() {
    if !docker_ready() {
        return;
    }
    let _s = serial();
    let (dir, log) = stand_in_plugin("install");
    let image = "127.0.0.1:1/xtask-desktop-test";
    let out = run_ok(
        xtask(
            &target_dir("dist"),
            &["install", "--image", image, "--tag", "0.1.0"],
        )
        .env("DOCKER_CONFIG", &dir),
    );
    let calls = fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|l| l == "version"), "{calls}");
    assert!(
        calls
            .lines()
            .any(|l| l == format!("install -f {image}:0.1.0")),
        "{calls}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("every variant verified"),
        "install did not build and verify first:\n{stderr}"
    );
    // The image it handed over is in the local store.
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", &format!("{image}:0.1.0")])
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", &format!("{image}:0.1.0")])
        .output();
}

/// A DOCKER_CONFIG whose `docker extension` plugin is a stand-in that appends its
/// arguments to a log (the real plugin ships only inside Docker Desktop), with the real
/// buildx plugin beside it.
fn stand_in_plugin(name: &str) -> (camino::Utf8PathBuf, camino::Utf8PathBuf) {
    let dir = target_dir(&format!("desktop/fake-docker-config-{name}"));
    let _ = fs::remove_dir_all(&dir);
    let plugins = dir.join("cli-plugins");
    fs::create_dir_all(&plugins).unwrap();
    // Keep the real buildx reachable under the new DOCKER_CONFIG.
    let home = std::env::var("HOME").unwrap();
    std::os::unix::fs::symlink(
        format!("{home}/.docker/cli-plugins/docker-buildx"),
        plugins.join("docker-buildx"),
    )
    .unwrap();
    let log = dir.join("calls.log");
    let plugin = plugins.join("docker-extension");
    fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n# Stand-in for Docker Desktop's extension plugin: records its arguments.\n\
             if [ \"$1\" = docker-cli-plugin-metadata ]; then\n\
             echo '{{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"xtask tests\",\"Version\":\"0.0.0\",\"ShortDescription\":\"stand-in\"}}'; exit 0; fi\n\
             shift\necho \"$*\" >> {log}\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755)).unwrap();

    (dir, log)
}

#[test]
fn dev_points_docker_desktop_at_vite_and_resets_on_ctrl_c() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    if !(docker_ready() && node_ready()) {
        return;
    }
    let (dir, log) = stand_in_plugin("dev");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let image = "127.0.0.1:1/xtask-dev-test";
    let mut cmd = xtask(
        &target_dir("desktop"),
        &[
            "dev",
            "--image",
            image,
            "--tag",
            "0.1.0",
            "--port",
            &port.to_string(),
        ],
    );
    cmd.env("DOCKER_CONFIG", &dir)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pgid = child.id();

    // Wait until Docker Desktop (the stand-in) has been pointed at a serving Vite.
    let url = format!("http://localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pointed = fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("dev ui-source {image}:0.1.0 {url}"));
        let serving = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if pointed && serving {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "dev exited early");
        assert!(
            Instant::now() < deadline,
            "dev never pointed Docker Desktop at a running Vite"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Ctrl-C as a terminal sends it: to the whole process group.
    let kill = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls
            .lines()
            .any(|l| l == format!("dev reset {image}:0.1.0")),
        "no reset after Ctrl-C:\n{calls}\n{stderr}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "Vite still serving after dev exited"
    );
    // The UI is hot-reloaded; the VM service is not, and dev says how to ship a change to it.
    assert!(
        stderr.contains("the VM service is not hot-reloaded")
            && stderr.contains(&format!("installed image {image}:0.1.0"))
            && stderr.contains("`cargo xtask update`"),
        "{stderr}"
    );
    eprintln!("dev exited {status}; stand-in calls:\n{calls}");
}
