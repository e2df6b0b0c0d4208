//! `vendor lock` on a `vendor.toml` written with the rest of TOML 1.0 (multi-line and
//! literal strings, a line continuation, dotted keys, an inline table of pins, comments
//! in every place TOML lets one stand, odd alignment, a blank line of spaces), against
//! the loopback mirrors of `vendor`: the file comes back byte for byte but for the pins
//! lock writes, with `\n` and with `\r\n` line endings, and the values read as written.

use std::fs;

use xtask::vendor::lock::{lock, LockRequest};
use xtask::vendor::Manifest;

use super::mirror::{helm_path, k8s_path, Mirror};
use super::{p, ready, K1};

const STALE: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `KUBECTL_PINS` and `HELM_PINS` stand where lock writes.
const MANIFEST: &str = r#"# Vendored binaries. Comments stand everywhere TOML lets them.

[kubectl]   # the raw-binary form
# the version, then the URL over several lines
version = "1.31.2" # keep in step with the UI
url = """
https://dl.k8s.io/release/v{version}/\
  bin/{os}/{arch}/kubectl{exe}"""
checksum_url = '{url}.sha256'   # a literal string
smoke = [
  # the arguments
  "version",  # first
  '--client', # second
]
smoke_expect = '''v{version}'''

# pins, one per line
[kubectl.sha256]
# the first pin
KUBECTL_PINS
    
[helm]
version = "3.16.3"
url = "https://get.helm.sh/helm-v{version}-{os}-{arch}.tar.gz"
member = '''{os}-{arch}/helm{exe}'''
checksum_url = "{url}.sha256sum"
sha256 = { HELM_PINS }   # inline pins
fallback.windows-arm64 = "windows-amd64"  # a dotted key
[helm.windows]
url = """https://get.helm.sh/helm-v{version}-{os}-{arch}.zip"""

# the end: a commented-out table
# [tool]
# version = "1.0.0"
"#;

fn manifest(kubectl_pins: &str, helm_pins: &str) -> String {
    MANIFEST
        .replace("KUBECTL_PINS", kubectl_pins)
        .replace("HELM_PINS", helm_pins)
}

#[test]
fn lock_keeps_every_byte_but_the_pins_of_a_file_using_all_of_toml() {
    if !ready() {
        return;
    }
    let m = Mirror::start("toml-forms");
    let cache = m.cache();
    let platforms = [p("linux-amd64"), p("darwin-arm64")];
    let req = LockRequest {
        platforms: &platforms,
        ..LockRequest::default()
    };
    let before = manifest(
        &format!("linux-amd64   = \"{STALE}\"   # stale, aligned"),
        &format!("linux-amd64 = \"{STALE}\""),
    );
    let k = |pl: &str| m.sha(&k8s_path(K1, p(pl)));
    let h = |pl: &str| m.sha(&helm_path(p(pl)));
    // The stale pin replaced where it stands, keeping its alignment and comment; the new
    // one on the next line; in braces, after the last pin.
    let want = manifest(
        &format!(
            "linux-amd64   = \"{}\"   # stale, aligned\ndarwin-arm64 = \"{}\"",
            k("linux-amd64"),
            k("darwin-arm64")
        ),
        &format!(
            "linux-amd64 = \"{}\", darwin-arm64 = \"{}\"",
            h("linux-amd64"),
            h("darwin-arm64")
        ),
    );
    for (file, nl) in [("vendor.toml", "\n"), ("vendor-crlf.toml", "\r\n")] {
        let path = m.dir.join(file);
        fs::write(&path, before.replace('\n', nl)).unwrap();
        let changes = lock(&path, &req, &cache, &mut |_| {}).unwrap();
        let mut keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "helm.sha256.darwin-arm64",
                "helm.sha256.linux-amd64",
                "kubectl.sha256.darwin-arm64",
                "kubectl.sha256.linux-amd64",
            ]
        );
        let after = fs::read_to_string(&path).unwrap();
        assert_eq!(after, want.replace('\n', nl), "{file}");
        // Locked: a second run changes nothing, not a byte.
        assert_eq!(lock(&path, &req, &cache, &mut |_| {}).unwrap(), vec![]);
        assert_eq!(fs::read_to_string(&path).unwrap(), after);

        // Every value reads as written: the continued line joined, literal strings raw.
        let manifest = Manifest::load(&path).unwrap();
        let a = manifest.resolve("kubectl", p("darwin-arm64")).unwrap();
        assert_eq!(
            a.upstream.url,
            "https://dl.k8s.io/release/v1.31.2/bin/darwin/arm64/kubectl"
        );
        assert_eq!(
            a.upstream.checksum_url.as_deref(),
            Some("https://dl.k8s.io/release/v1.31.2/bin/darwin/arm64/kubectl.sha256")
        );
        let smoke = a.smoke.unwrap();
        assert_eq!(smoke.args, ["version", "--client"]);
        assert_eq!(smoke.expect.as_deref(), Some("v1.31.2"));
        let a = manifest.resolve("helm", p("linux-amd64")).unwrap();
        assert_eq!(a.upstream.member.as_deref(), Some("linux-amd64/helm"));
        assert_eq!(a.sha256, h("linux-amd64"));
        assert_eq!(
            manifest.fallback("helm", p("windows-arm64")),
            Some(p("windows-amd64"))
        );
    }
    // The pins are the artifacts' own: fetching through them checks out.
    let manifest = Manifest::load(&m.dir.join("vendor.toml")).unwrap();
    for name in ["kubectl", "helm"] {
        let a = manifest.resolve(name, p("darwin-arm64")).unwrap();
        cache.fetch(&a, &mut |_| {}).unwrap();
    }
}
