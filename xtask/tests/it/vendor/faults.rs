//! Each way a download fails, through `fault`: the error names the binary, the platform
//! and the URL, says what went wrong, and nothing enters the cache.

use std::fs;
use std::net::TcpListener;
use std::time::Duration;

use xtask::vendor::fetch::{Cache, FetchOptions};

use super::mirror::{k8s_path, Mirror};
use super::server::Rule;
use super::{fault, kubectl_manifest, p, platform_of, ready, K1};

#[test]
fn checksum_mismatch() {
    if !ready() {
        return;
    }
    let m = Mirror::start("mismatch");
    let wrong = m.sha(&k8s_path(K1, p("linux-arm64")));
    let manifest = m.manifest(&kubectl_manifest(K1, &[("linux-amd64", wrong.clone())]));
    let err = fault(&m.cache(), &manifest, "kubectl", "linux-amd64");
    let found = m.sha(&k8s_path(K1, p("linux-amd64")));
    assert!(
        err.ends_with(&format!(
            ": checksum mismatch: expected sha256 {wrong}, found {found}; nothing was cached \
             (upstream changed the file, or the pin is wrong: `cargo xtask vendor lock` re-pins)"
        )),
        "{err}"
    );
}

#[test]
fn http_404() {
    if !ready() {
        return;
    }
    let m = Mirror::start("404");
    let manifest = m.manifest(&kubectl_manifest(
        "9.9.9",
        &[("linux-amd64", "a".repeat(64))],
    ));
    let err = fault(&m.cache(), &manifest, "kubectl", "linux-amd64");
    assert!(
        err.ends_with(": HTTP 404 (not found): check the version and the URL template"),
        "{err}"
    );
    assert_eq!(
        m.server.hits(&k8s_path("9.9.9", p("linux-amd64"))),
        1,
        "404 is not retried"
    );
}

#[test]
fn http_5xx_is_retried_with_backoff() {
    if !ready() {
        return;
    }
    let m = Mirror::start("5xx");
    let (ok, bad) = (
        k8s_path(K1, p("linux-amd64")),
        k8s_path(K1, p("darwin-arm64")),
    );
    let manifest = m.manifest(&kubectl_manifest(
        K1,
        &[("linux-amd64", m.sha(&ok)), ("darwin-arm64", m.sha(&bad))],
    ));
    m.server.rule(&ok, Rule::Status(503, 2));
    m.server.rule(&bad, Rule::Status(500, 100));
    let cache = m.cache();
    cache
        .fetch(
            &manifest.resolve("kubectl", p("linux-amd64")).unwrap(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(m.server.hits(&ok), 3, "two 503s, then the file");
    let err = fault(
        &Cache::new(m.dir.join("cache2"), m.opts()),
        &manifest,
        "kubectl",
        "darwin-arm64",
    );
    assert!(
        err.ends_with(": HTTP 500 (server error), 3 attempt(s) with backoff"),
        "{err}"
    );
    assert_eq!(m.server.hits(&bad), 3);
}

#[test]
fn stalled_transfer_times_out_and_is_retried() {
    if !ready() {
        return;
    }
    let m = Mirror::start("stall");
    let (flaky, dead) = (
        k8s_path(K1, p("linux-amd64")),
        k8s_path(K1, p("linux-arm64")),
    );
    let manifest = m.manifest(&kubectl_manifest(
        K1,
        &[
            ("linux-amd64", m.sha(&flaky)),
            ("linux-arm64", m.sha(&dead)),
        ],
    ));
    m.server
        .rule(&flaky, Rule::Stall(1, Duration::from_secs(6)));
    m.server
        .rule(&dead, Rule::Stall(100, Duration::from_secs(6)));
    let opts = FetchOptions {
        retries: 1,
        stall_secs: 1,
        ..m.opts()
    };
    let cache = Cache::new(m.dir.join("cache"), opts);
    cache
        .fetch(
            &manifest.resolve("kubectl", p("linux-amd64")).unwrap(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(m.server.hits(&flaky), 2);
    let _ = fs::remove_dir_all(m.dir.join("cache"));
    let err = fault(&cache, &manifest, "kubectl", "linux-arm64");
    assert!(
        err.contains(": timed out, 2 attempt(s) with backoff ("),
        "{err}"
    );
}

#[test]
fn truncated_download() {
    if !ready() {
        return;
    }
    let m = Mirror::start("truncated");
    let path = k8s_path(K1, p("windows-amd64"));
    let manifest = m.manifest(&kubectl_manifest(K1, &[("windows-amd64", m.sha(&path))]));
    m.server.rule(&path, Rule::Truncate);
    let err = fault(&m.cache(), &manifest, "kubectl", "windows-amd64");
    assert!(
        err.ends_with(": download truncated: the server closed the connection before the announced size (curl exit 18)"),
        "{err}"
    );
}

#[test]
fn redirects_stay_on_https_except_loopback() {
    if !ready() {
        return;
    }
    let m = Mirror::start("redirect");
    let pins: Vec<(&str, String)> = ["linux-amd64", "linux-arm64", "darwin-amd64"]
        .iter()
        .map(|pl| (*pl, m.sha(&k8s_path(K1, p(pl)))))
        .collect();
    let manifest = m.manifest(&kubectl_manifest(K1, &pins));
    let cache = m.cache();

    // To plain HTTP elsewhere: refused before anything connects there.
    m.server.rule(
        &k8s_path(K1, p("linux-amd64")),
        Rule::Redirect("http://example.com/kubectl".into()),
    );
    let err = fault(&cache, &manifest, "kubectl", "linux-amd64");
    assert!(
        err.ends_with(": redirected to http://example.com/kubectl, refused: `http://example.com/kubectl` is not HTTPS; \
                       plain HTTP is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost)"),
        "{err}"
    );

    // To HTTPS: followed (here to a closed port, so it fails connecting, not on protocol).
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let https = format!("https://127.0.0.1:{closed}/kubectl");
    m.server
        .rule(&k8s_path(K1, p("linux-arm64")), Rule::Redirect(https));
    let err = fault(&cache, &manifest, "kubectl", "linux-arm64");
    assert!(
        err.contains(": cannot connect (curl: (7) Failed to connect to 127.0.0.1 port"),
        "{err}"
    );

    // Within loopback: followed.
    let moved = format!("{}?moved", k8s_path(K1, p("darwin-amd64")));
    m.server.rule(
        &k8s_path(K1, p("darwin-amd64")),
        Rule::Redirect(m.url(&moved)),
    );
    let got = cache
        .fetch(
            &manifest.resolve("kubectl", p("darwin-amd64")).unwrap(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        platform_of(&fs::read(got).unwrap()),
        Some(p("darwin-amd64"))
    );
    assert_eq!(m.server.hits(&moved), 1);
}

#[test]
fn oversized_download() {
    if !ready() {
        return;
    }
    let m = Mirror::start("oversized");
    let path = k8s_path(K1, p("darwin-arm64"));
    let manifest = m.manifest(&kubectl_manifest(K1, &[("darwin-arm64", m.sha(&path))]));
    let cache = Cache::new(
        m.dir.join("cache"),
        FetchOptions {
            max_bytes: 1000,
            ..m.opts()
        },
    );
    let err = fault(&cache, &manifest, "kubectl", "darwin-arm64");
    assert!(
        err.ends_with(
            ": download exceeds the limit of 1000 bytes (XTASK_VENDOR_MAX_BYTES raises it)"
        ),
        "{err}"
    );
}

#[test]
fn offline_with_a_cold_cache() {
    if !ready() {
        return;
    }
    let m = Mirror::start("offline-cold");
    let path = k8s_path(K1, p("linux-amd64"));
    let manifest = m.manifest(&kubectl_manifest(K1, &[("linux-amd64", m.sha(&path))]));
    let cache = Cache::new(
        m.dir.join("cache"),
        FetchOptions {
            offline: true,
            ..m.opts()
        },
    );
    let err = fault(&cache, &manifest, "kubectl", "linux-amd64");
    assert!(err.contains(": not in the cache ("), "{err}");
    assert!(err.contains(") and offline (--offline or CARGO_NET_OFFLINE=true); run `cargo xtask vendor fetch` while online"), "{err}");
    assert_eq!(m.server.total(), 0);
}
