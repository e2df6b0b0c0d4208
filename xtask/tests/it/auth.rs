//! Publishing to a registry that wants a login (htpasswd auth, as Docker Hub and private
//! registries do): with `docker login` everything works; without it, or with a wrong
//! password, the run stops before compiling, says to log in and where, moves no tag,
//! and never prints the secret.

use std::io::Write;
use std::process::{Command, Stdio};

use camino::Utf8Path;

use crate::support::registry::{base64, Options, Registry};
use crate::support::*;

const USER: &str = "xtask";
const PASSWORD: &str = "s3cret-Pa55-xtask";

fn auth_registry() -> Option<Registry> {
    Registry::start_with(Options {
        login: Some((USER.to_owned(), PASSWORD.to_owned())),
        ..Options::default()
    })
}

fn with_config(mut cmd: Command, config: &Utf8Path) -> Command {
    cmd.env("DOCKER_CONFIG", config);
    cmd
}

/// Neither the password nor the basic-auth token it makes appears in `out`.
fn no_secret(out: &std::process::Output, password: &str) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let token = base64(format!("{USER}:{password}").as_bytes());
    assert!(
        !text.contains(password) && !text.contains(&token),
        "the secret was printed"
    );
}

#[test]
fn publish_verify_and_merge_after_docker_login() {
    if !dist_ready() {
        return;
    }
    let _s = serial();
    let Some(reg) = auth_registry() else { return };
    let config = docker_config("auth-login");
    let mut login = Command::new("docker")
        .args(["login", &reg.addr(), "-u", USER, "--password-stdin"])
        .env("DOCKER_CONFIG", &config)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success(), "docker login failed");

    let image = reg.image("hostfacts");
    let target = target_dir("dist");
    let args = [
        "dist",
        "--toolchain",
        "zigbuild",
        "--image",
        &image,
        "--tag",
        "0.1.0",
        "--push",
        "--verbose",
        "--json",
    ];
    let out = run_ok(with_config(xtask(&target, &args), &config));
    no_secret(&out, PASSWORD);
    let release = format!("{image}:0.1.0");
    assert!(reg.content_digest("hostfacts", "0.1.0").is_some());
    let out = run_ok(with_config(xtask(&target, &["verify", &release]), &config));
    no_secret(&out, PASSWORD);
    let merged = format!("{image}:0.2.0");
    let out = run_ok(with_config(
        xtask(&target, &["merge", &merged, &release, "--json"]),
        &config,
    ));
    no_secret(&out, PASSWORD);
    assert!(reg.content_digest("hostfacts", "0.2.0").is_some());
}

#[test]
fn without_a_login_or_with_a_wrong_one_nothing_compiles_or_moves() {
    if !dist_ready() {
        return;
    }
    let _s = serial();
    let Some(reg) = auth_registry() else { return };
    let image = reg.image("hostfacts");
    let wrong = "not-the-password";
    let wrong_login = docker_config("auth-wrong");
    std::fs::write(
        wrong_login.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.addr(),
            base64(format!("{USER}:{wrong}").as_bytes())
        ),
    )
    .unwrap();
    for (config, secret) in [
        (docker_config("auth-none"), None),
        (wrong_login, Some(wrong)),
    ] {
        let target = target_dir("auth-refused");
        let args = [
            "dist",
            "--toolchain",
            "zigbuild",
            "--image",
            &image,
            "--tag",
            "0.1.0",
            "--push",
            "--verbose",
            "--json",
        ];
        let out = run(with_config(xtask(&target, &args), &config));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "published without a valid login");
        assert!(
            err.contains(&format!("docker login {}", reg.addr())),
            "no login advice naming the registry: {err}"
        );
        assert!(
            !err.contains("cargo zigbuild"),
            "compiled before failing: {err}"
        );
        if let Some(s) = secret {
            no_secret(&out, s);
        }
        let out = run(with_config(
            xtask(
                &target,
                &[
                    "merge",
                    &format!("{image}:0.2.0"),
                    &format!("{image}:0.1.0"),
                ],
            ),
            &config,
        ));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&format!("docker login {}", reg.addr())),
            "{err}"
        );
        assert!(reg.tags("hostfacts").is_empty(), "a tag moved");
    }
}
