//! `vendor lock`: pins from the published checksum files, or from the download where
//! there is none; a refreshed version; and the locked example fetched on every platform,
//! then reused from the cache by another process and offline.

use std::fs;

use xtask::vendor::fetch::{Cache, Event, FetchOptions};
use xtask::vendor::lock::{lock, LockRequest};
use xtask::vendor::{HostPlatform, Manifest};

use super::mirror::{helm_path, k8s_path, Mirror};
use super::{fixture, p, platform_of, ready, HELM, K1, K2};

#[test]
fn example_manifest_locks_from_published_checksums_and_fetches_every_platform() {
    if !ready() {
        return;
    }
    let m = Mirror::start("example");
    let path = m.dir.join("vendor.toml");
    let example = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../extension/vendor.example.toml"
    ))
    .unwrap();
    fs::write(&path, &example).unwrap();

    let cache = m.cache();
    let req = LockRequest {
        platforms: &HostPlatform::ALL,
        ..LockRequest::default()
    };
    let changes = lock(&path, &req, &cache, &mut |_| {}).unwrap();
    for c in &changes {
        eprintln!("{c}");
    }
    // kubectl: six pins; helm: five, windows-arm64 falls back to windows-amd64.
    assert_eq!(changes.len(), 11, "{changes:?}");
    for pl in HostPlatform::ALL {
        let key = format!("kubectl.sha256.{pl}");
        let c = changes.iter().find(|c| c.key == key).expect(&key);
        assert_eq!(
            (c.old.as_deref(), c.new.as_str()),
            (None, m.sha(&k8s_path(K1, pl)).as_str())
        );
        assert_eq!(m.server.hits(&format!("{}.sha256", k8s_path(K1, pl))), 1);
        assert_eq!(
            m.server.hits(&k8s_path(K1, pl)),
            0,
            "lock read the checksum, not the binary"
        );
    }
    assert_eq!(
        m.server
            .hits(&format!("{}.sha256sum", helm_path(p("windows-arm64")))),
        0
    );
    assert_eq!(m.server.total(), 11);

    // Comments and their order survive; the pins went below their table headers.
    let locked = fs::read_to_string(&path).unwrap();
    let comments = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(comments(&locked), comments(&example));
    let kube = locked
        .find("[kubectl.sha256]\ndarwin-amd64 = \"")
        .expect(&locked);
    assert!(kube < locked.find("[helm]").unwrap(), "{locked}");
    // A second lock changes nothing.
    assert_eq!(lock(&path, &req, &cache, &mut |_| {}).unwrap(), vec![]);

    let manifest = Manifest::load(&path).unwrap();
    let bins = ["host-bin".to_owned()].into();
    let needed: Vec<(String, HostPlatform)> = ["kubectl", "helm"]
        .iter()
        .flat_map(|n| HostPlatform::ALL.map(|pl| (format!("{n}{}", pl.os.exe_suffix()), pl)))
        .collect();
    let needed: Vec<(&str, HostPlatform)> =
        needed.iter().map(|(n, pl)| (n.as_str(), *pl)).collect();
    assert_eq!(manifest.check(&needed, &bins), Vec::<String>::new());

    let fetch_all = |cache: &Cache| {
        let mut downloads = 0;
        let mut on = |e: Event| downloads += matches!(e, Event::Downloading { .. }) as usize;
        for name in ["kubectl", "helm"] {
            for pl in HostPlatform::ALL {
                let a = manifest.resolve(name, pl).unwrap();
                let got = cache.fetch(&a, &mut on).unwrap();
                let built_for = a.upstream.built_for;
                let version = if name == "helm" { HELM } else { K1 };
                assert_eq!(
                    fs::read(&got).unwrap(),
                    fixture(name, version, built_for),
                    "{got}"
                );
                assert_eq!(
                    platform_of(&fs::read(&got).unwrap()),
                    Some(built_for),
                    "{got}"
                );
                assert_eq!(a.file_name(), format!("{name}{}", pl.os.exe_suffix()));
                if (name, pl) == ("helm", p("windows-arm64")) {
                    assert_eq!(built_for, p("windows-amd64"));
                    let note = a.fallback_note().unwrap();
                    assert!(
                        note.contains("helm for windows-arm64 is the windows-amd64 build"),
                        "{note}"
                    );
                } else {
                    assert_eq!((built_for, a.fallback_note()), (pl, None));
                }
                #[cfg(unix)]
                if name == "helm" {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = fs::metadata(&got).unwrap().permissions().mode() & 0o777;
                    assert_eq!(mode, 0o755, "{got}");
                }
            }
        }
        downloads
    };
    let before = m.server.total();
    // helm windows-arm64 reuses the windows-amd64 zip: 11 downloads for 12 binaries.
    assert_eq!(fetch_all(&cache), 11);
    assert_eq!(m.server.total() - before, 11);
    // Another process (a new Cache on the same dir) downloads nothing.
    assert_eq!(fetch_all(&m.cache()), 0);
    // Nor does an offline one.
    let offline = Cache::new(
        cache.dir(),
        FetchOptions {
            offline: true,
            ..m.opts()
        },
    );
    assert_eq!(fetch_all(&offline), 0);
    assert_eq!(m.server.total() - before, 11);
}

#[test]
fn lock_downloads_without_a_checksum_file_and_refreshes_a_version() {
    if !ready() {
        return;
    }
    let m = Mirror::start("lock-version");
    let path = m.dir.join("vendor.toml");
    let text = "# kubectl for the UI's cluster page\n[kubectl]\nversion = \"1.31.2\" # keep in step with the UI\n\
                url = \"https://dl.k8s.io/release/v{version}/bin/{os}/{arch}/kubectl{exe}\"\n\n\
                # pins\n[kubectl.sha256]\nlinux-amd64 = \"0000000000000000000000000000000000000000000000000000000000000000\" # stale\n";
    fs::write(&path, text).unwrap();
    let cache = m.cache();
    let req = LockRequest {
        platforms: &[p("windows-arm64")],
        ..LockRequest::default()
    };
    let changes = lock(&path, &req, &cache, &mut |_| {}).unwrap();
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            format!(
                "kubectl.sha256.linux-amd64: {} -> {}",
                "0".repeat(64),
                m.sha(&k8s_path(K1, p("linux-amd64")))
            ),
            format!(
                "kubectl.sha256.windows-arm64: (none) -> {}",
                m.sha(&k8s_path(K1, p("windows-arm64")))
            ),
        ]
    );
    assert_eq!(m.server.hits(&k8s_path(K1, p("linux-amd64"))), 1);
    // What lock downloaded is in the cache: fetching it costs no request.
    let manifest = Manifest::load(&path).unwrap();
    let before = m.server.total();
    for pl in ["linux-amd64", "windows-arm64"] {
        cache
            .fetch(&manifest.resolve("kubectl", p(pl)).unwrap(), &mut |_| {})
            .unwrap();
    }
    assert_eq!(m.server.total(), before);

    let req = LockRequest {
        name: Some("kubectl"),
        version: Some(K2),
        platforms: &[],
    };
    let changes = lock(&path, &req, &cache, &mut |_| {}).unwrap();
    let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "kubectl.version",
            "kubectl.sha256.linux-amd64",
            "kubectl.sha256.windows-arm64"
        ]
    );
    let after = fs::read_to_string(&path).unwrap();
    assert!(
        after.contains("version = \"1.31.3\" # keep in step with the UI\n"),
        "{after}"
    );
    assert!(
        after.contains(&format!(
            "linux-amd64 = \"{}\" # stale\n",
            m.sha(&k8s_path(K2, p("linux-amd64")))
        )),
        "{after}"
    );
    assert!(
        after.starts_with("# kubectl for the UI's cluster page\n") && after.contains("\n# pins\n")
    );

    // A version upstream does not have: a clear error, and the file is left as it was.
    let req = LockRequest {
        name: Some("kubectl"),
        version: Some("9.9.9"),
        platforms: &[],
    };
    let err = format!("{:#}", lock(&path, &req, &cache, &mut |_| {}).unwrap_err());
    assert!(
        err.starts_with(
            "cannot pin kubectl for linux-amd64 (if upstream has no linux-amd64 build, \
             declare kubectl.fallback.linux-amd64 or leave linux-amd64 out of metadata.json): \
             cannot pin http://127.0.0.1:"
        ),
        "{err}"
    );
    assert!(err.ends_with("/k8s/release/v9.9.9/bin/linux/amd64/kubectl: HTTP 404 (not found): check the version and the URL template"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), after);

    let err = lock(
        &path,
        &LockRequest {
            version: Some("1"),
            ..LockRequest::default()
        },
        &cache,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "--version needs a NAME: each binary has its own version"
    );
}
