//! The cache shared between processes, configured as a user would through the
//! environment: two processes fetching at once download each artifact once, a third
//! offline one is served by the warm cache, and one without curl says so.

use std::fs;
use std::process::Command;
use std::time::Duration;

use camino::Utf8Path;
use xtask::vendor::fetch::{sha256_file, Cache, FetchOptions};
use xtask::vendor::Manifest;

use super::mirror::{helm_path, k8s_path, Mirror};
use super::server::Rule;
use super::{kubectl_manifest, p, ready, HELM, K1};

/// Not a test on its own: the second process of `two_processes_share_one_cache` and
/// `missing_curl_is_a_clear_error`, configured the way a user would, through the
/// environment (XTASK_VENDOR_CACHE, XTASK_VENDOR_MIRROR, CARGO_NET_OFFLINE).
#[test]
fn worker_process() {
    let Ok(path) = std::env::var("VENDOR_TEST_MANIFEST") else {
        return;
    };
    let since_epoch = std::time::UNIX_EPOCH.elapsed().unwrap();
    println!("STARTED {}", since_epoch.as_millis());
    let manifest = Manifest::load(Utf8Path::new(&path)).unwrap();
    let cache = Cache::new(
        Cache::default_dir().unwrap(),
        FetchOptions::from_env().unwrap(),
    );
    for item in std::env::var("VENDOR_TEST_FETCH").unwrap().split(' ') {
        let (name, platform) = item.split_once('@').unwrap();
        let a = manifest.resolve(name, p(platform)).unwrap();
        match cache.fetch(&a, &mut |e| eprintln!("{e:?}")) {
            Ok(path) => println!("FETCHED {item} {path} {}", sha256_file(&path).unwrap()),
            Err(e) => {
                println!("FAILED {e:#}");
                std::process::exit(3);
            }
        }
    }
}

fn worker(m: &Mirror, manifest: &Utf8Path, fetch: &str) -> Command {
    // The harness names a test by its module path without the crate's (`it::`).
    let module = module_path!().split_once("::").unwrap().1;
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", &format!("{module}::worker_process")])
        .args(["--nocapture", "--test-threads=1"])
        .env("VENDOR_TEST_MANIFEST", manifest)
        .env("VENDOR_TEST_FETCH", fetch)
        .env("XTASK_VENDOR_CACHE", m.dir.join("cache"))
        .env("XTASK_VENDOR_MIRROR", m.mirror_spec())
        .env_remove("CARGO_NET_OFFLINE");
    c
}

fn stdout_lines(o: &std::process::Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        // The harness prints `test worker_process ... ` before the first line.
        .filter_map(|l| l.find(prefix).map(|at| l[at..].to_owned()))
        .collect()
}

#[test]
fn two_processes_share_one_cache() {
    if !ready() {
        return;
    }
    let m = Mirror::start("two-processes");
    let manifest = m.dir.join("vendor.toml");
    let kubectl = [
        ("linux-amd64", m.sha(&k8s_path(K1, p("linux-amd64")))),
        ("darwin-arm64", m.sha(&k8s_path(K1, p("darwin-arm64")))),
    ];
    let helm = m.sha(&helm_path(p("linux-arm64")));
    let text = kubectl_manifest(K1, &kubectl)
        + &format!(
            "[helm]\nversion = \"{HELM}\"\nurl = \"https://get.helm.sh/helm-v{{version}}-{{os}}-{{arch}}.tar.gz\"\n\
             member = \"{{os}}-{{arch}}/helm\"\nsha256 = {{ linux-arm64 = \"{helm}\" }}\n"
        );
    fs::write(&manifest, text).unwrap();
    // Each download takes a while, so the second process arrives while the first holds
    // the artifact's lock (checked below from the start times).
    let delay = Duration::from_millis(700);
    let slow = Rule::Delay(delay);
    for path in [
        k8s_path(K1, p("linux-amd64")),
        k8s_path(K1, p("darwin-arm64")),
        helm_path(p("linux-arm64")),
    ] {
        m.server.rule(&path, slow.clone());
    }
    let items = "kubectl@linux-amd64 kubectl@darwin-arm64 helm@linux-arm64";
    let children: Vec<_> = (0..2)
        .map(|_| worker(&m, &manifest, items).spawn_piped())
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        eprintln!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success());
    }
    let fetched = stdout_lines(&outs[0], "FETCHED");
    assert_eq!(fetched.len(), 3);
    assert_eq!(
        fetched,
        stdout_lines(&outs[1], "FETCHED"),
        "both see the same files"
    );
    assert_eq!(m.server.total(), 3, "each artifact downloaded once");
    let started: Vec<u128> = outs
        .iter()
        .map(|o| stdout_lines(o, "STARTED ")[0][8..].parse().unwrap())
        .collect();
    let apart = started[0].abs_diff(started[1]);
    assert!(
        apart < delay.as_millis() * 3,
        "the processes started {apart} ms apart: they did not overlap"
    );

    // A third process, offline through CARGO_NET_OFFLINE, is served by the warm cache.
    let o = worker(&m, &manifest, items)
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(stdout_lines(&o, "FETCHED"), fetched);
    assert_eq!(m.server.total(), 3);
}

#[test]
fn missing_curl_is_a_clear_error() {
    if !ready() {
        return;
    }
    let m = Mirror::start("no-curl");
    let manifest = m.dir.join("vendor.toml");
    fs::write(
        &manifest,
        kubectl_manifest(
            K1,
            &[("linux-amd64", m.sha(&k8s_path(K1, p("linux-amd64"))))],
        ),
    )
    .unwrap();
    let empty = m.dir.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    let o = worker(&m, &manifest, "kubectl@linux-amd64")
        .env("PATH", &empty)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("FAILED cannot fetch kubectl for linux-amd64 from "),
        "{out}"
    );
    assert!(
        out.contains(
            ": `curl` is needed to download vendored binaries but does not run; install it"
        ),
        "{out}"
    );
    assert_eq!(m.server.total(), 0);
}

trait SpawnPiped {
    fn spawn_piped(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn spawn_piped(&mut self) -> std::process::Child {
        use std::process::Stdio;
        self.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}
