//! Archive formats of `vendor.toml` upstreams, through the loopback mirror of `vendor`:
//! `.tar.xz` (cargo-dist's default for Unix) from `vendor lock` to a staged binary, plain
//! `.tar` and `.xz`, a zip whose entry carries ZIP64 sizes, and suffixes we do not unpack
//! refused with the supported list before anything is downloaded.
//!
//! The archives are written by implementations independent of the readers under test
//! where one exists here: the system's `xz`, and the `zip` crate's writer for ZIP64 (Python's
//! zipfile writes ZIP64 sizes only past 4 GiB).

use std::fs;
use std::io::Write;
use std::process::Command;

use camino::Utf8Path;
use xtask::vendor::fetch::sha256_file;

use super::mirror::Mirror;
use super::{fault, fixture, p, platform_of, ready, HELM};
use crate::support::{metadata_variant, root, run_err, run_ok, target_dir, xtask};

/// `members` as a tar compressed by the system's `xz -6` (what cargo-dist and shellcheck
/// publish); `xz: None` leaves the plain `.tar`.
fn write_tar(path: &Utf8Path, members: &[(&str, &[u8])], xz: bool) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tar_path = path.with_extension(if xz { "tmp" } else { "tar" });
    let mut tar = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        tar.append_data(&mut h, name, *data).unwrap();
    }
    tar.into_inner().unwrap().sync_all().unwrap();
    if xz {
        xz_file(&tar_path, path);
        fs::remove_file(tar_path).unwrap();
    }
}

/// `from` compressed by the system's `xz -6` into `to`.
fn xz_file(from: &Utf8Path, to: &Utf8Path) {
    let out = Command::new("xz")
        .args(["-6", "-c", from.as_str()])
        .output()
        .expect("xz (apt-get install xz-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(to, out.stdout).unwrap();
}

fn xz_ready() -> bool {
    crate::support::require(
        "xz",
        Command::new("xz").arg("--version").output().is_ok(),
        "apt-get install xz-utils",
    )
}

/// shellcheck's layout: `shellcheck-vX.{os}.{arch}.tar.xz` holding `shellcheck-vX/shellcheck`,
/// with `.sha256sum` files beside, on the mirror of get.helm.sh for both Linux CPUs.
fn publish_tar_xz(m: &Mirror) {
    for p in [p("linux-amd64"), p("linux-arm64")] {
        let file = m.www(&format!(
            "/helm/xz/sc-v1.0.linux.{}.tar.xz",
            p.arch.docker()
        ));
        let exe = fixture("helm", HELM, p);
        write_tar(
            &file,
            &[
                ("sc-v1.0/README.txt", b"shellcheck\n"),
                ("sc-v1.0/sc", &exe),
            ],
            true,
        );
        let line = format!(
            "{}  {}\n",
            sha256_file(&file).unwrap(),
            file.file_name().unwrap()
        );
        fs::write(format!("{file}.sha256sum"), line).unwrap();
    }
}

const SC_TOML: &str = "# shellcheck-style upstream\n[sc]\nversion = \"1.0\"  # pinned\n\
    url = \"https://get.helm.sh/xz/sc-v{version}.{os}.{arch}.tar.xz\"\n\
    member = \"sc-v{version}/sc\"\nchecksum_url = \"{url}.sha256sum\"\n[sc.sha256]\n";

/// A `.tar.xz` upstream end to end through the CLI: `vendor lock` pins it from the
/// published checksum files, `stage --dry-run` plans it, `stage` unpacks it into both
/// variants with the mirror's exact bytes, the right header and its `SHA256SUMS` line.
#[test]
fn tar_xz_upstream_is_locked_planned_and_staged() {
    if !(ready() && xz_ready() && crate::support::zig_ready() && crate::support::node_ready()) {
        return;
    }
    let _s = crate::support::serial();
    let m = Mirror::start("tar-xz");
    publish_tar_xz(&m);
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root().join("extension/metadata.json")).unwrap())
            .unwrap();
    let mut meta = meta;
    meta["host"]["binaries"] =
        serde_json::json!([{"linux": [{"path": "/linux/host-bin"}, {"path": "/linux/sc"}]}]);
    let meta = metadata_variant("tar-xz", &meta.to_string());
    let manifest = meta.with_file_name("vendor.toml");
    fs::write(&manifest, SC_TOML).unwrap();
    let target = target_dir("vendor-tar-xz");
    let env = |args: &[&str]| {
        let mut c = xtask(&target, args);
        c.env("XTASK_VENDOR_MIRROR", m.mirror_spec())
            .env("XTASK_VENDOR_CACHE", m.dir.join("cache"));
        c
    };

    let out = run_ok(env(&["vendor", "lock", "--metadata", meta.as_str()]));
    let changes = String::from_utf8_lossy(&out.stdout);
    let pinned = fs::read_to_string(&manifest).unwrap();
    for arch in ["amd64", "arm64"] {
        let sha = m.sha(&format!("/helm/xz/sc-v1.0.linux.{arch}.tar.xz"));
        assert!(
            changes.contains(&format!("sc.sha256.linux-{arch}: (none) -> {sha}")),
            "{changes}"
        );
        assert!(
            pinned.contains(&format!("linux-{arch} = \"{sha}\"")),
            "{pinned}"
        );
    }
    assert!(
        pinned.starts_with("# shellcheck-style upstream\n"),
        "{pinned}"
    );

    let common = ["--toolchain", "zigbuild", "--metadata", meta.as_str()];
    let out = run_ok(env(&[&["stage", "--dry-run"][..], &common].concat()));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains(
            "linux/sc <- https://get.helm.sh/xz/sc-v1.0.linux.arm64.tar.xz (vendored sc 1.0"
        ),
        "{plan}"
    );

    run_ok(env(&[&["stage"][..], &common].concat()));
    for p in [p("linux-amd64"), p("linux-arm64")] {
        let dir = target.join("dist/stage").join(
            xtask::target::ImagePlatform::parse(&format!("linux/{}", p.arch.docker()))
                .unwrap()
                .stage_name(),
        );
        let staged = fs::read(dir.join("linux/sc")).unwrap();
        assert_eq!(platform_of(&staged), Some(p), "{dir}/linux/sc");
        assert_eq!(
            staged,
            fixture("helm", HELM, p),
            "{dir}/linux/sc: the mirror's bytes"
        );
        let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        let hex = sha256_file(&dir.join("linux/sc")).unwrap();
        assert!(sums.contains(&format!("{hex}  linux/sc")), "{sums}");
    }
}

/// `.tar`, `.xz` and `.tar.xz` through the cache: each unpacked to the member's bytes,
/// and an `.xz` that is not one fails with the decoder's reason, caching nothing.
#[test]
fn plain_tar_xz_and_tar_xz_are_unpacked() {
    if !(ready() && xz_ready()) {
        return;
    }
    let m = Mirror::start("tar-plain-xz");
    let linux = p("linux-amd64");
    let exe = fixture("helm", HELM, linux);
    write_tar(
        &m.www("/helm/x/tool-linux-amd64.tar"),
        &[("bin/tool", &exe)],
        false,
    );
    write_tar(
        &m.www("/helm/x/tool-linux-amd64.tar.xz"),
        &[("bin/tool", &exe)],
        true,
    );
    let raw = m.www("/helm/x/raw");
    fs::write(&raw, &exe).unwrap();
    xz_file(&raw, &m.www("/helm/x/tool-linux-amd64.xz"));
    fs::write(m.www("/helm/x/bad-linux-amd64.xz"), b"not xz at all").unwrap();
    let mut text = String::new();
    for (name, file, member) in [
        ("t1", "tool-{os}-{arch}.tar", "member = \"bin/tool\"\n"),
        ("t2", "tool-{os}-{arch}.tar.xz", "member = \"bin/tool\"\n"),
        ("t3", "tool-{os}-{arch}.xz", ""),
        ("bad", "bad-{os}-{arch}.xz", ""),
    ] {
        let hex = sha256_file(&m.www(&format!(
            "/helm/x/{}",
            file.replace("{os}-{arch}", "linux-amd64")
        )))
        .unwrap();
        text += &format!(
            "[{name}]\nversion = \"1\"\nurl = \"https://get.helm.sh/x/{file}\"\n{member}\
             sha256 = {{ linux-amd64 = \"{hex}\" }}\n"
        );
    }
    let manifest = m.manifest(&text);
    // The fault first: `fault` wants the cache to hold nothing afterwards.
    let err = fault(&m.cache(), &manifest, "bad", "linux-amd64");
    assert!(err.contains("cannot decompress the .xz"), "{err}");
    let cache = m.cache();
    for name in ["t1", "t2", "t3"] {
        let a = manifest.resolve(name, linux).unwrap();
        let path = cache.fetch(&a, &mut |_| {}).unwrap();
        assert_eq!(fs::read(&path).unwrap(), exe, "{name}");
    }
}

/// A zip whose entry says 0xFFFFFFFF in the directory and carries its sizes in the ZIP64
/// extra field: the hand-written reader called it "4294967295 bytes, more than the limit".
#[test]
fn zip_entry_with_zip64_sizes() {
    if !ready() {
        return;
    }
    let m = Mirror::start("zip64");
    let win = p("windows-amd64");
    let exe = fixture("helm", HELM, win);
    let file = m.www("/helm/z/tool-windows-amd64.zip");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(fs::File::create(&file).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("windows-amd64/LICENSE", opts).unwrap();
    zip.write_all(b"Apache License 2.0\n").unwrap();
    zip.start_file("windows-amd64/tool.exe", opts).unwrap();
    zip.write_all(&exe).unwrap();
    zip.finish().unwrap();

    // The fixture is what the test says it is: every directory record's 32-bit sizes are
    // the ZIP64 sentinel.
    let bytes = fs::read(&file).unwrap();
    let records: Vec<usize> = (0..bytes.len() - 4)
        .filter(|&i| &bytes[i..i + 4] == b"PK\x01\x02")
        .collect();
    assert_eq!(records.len(), 2);
    for at in records {
        assert_eq!(
            &bytes[at + 20..at + 28],
            &[0xff; 8],
            "compressed and size at {at}"
        );
    }

    let hex = sha256_file(&file).unwrap();
    let manifest = m.manifest(&format!(
        "[tool]\nversion = \"1\"\nurl = \"https://get.helm.sh/z/tool-{{os}}-{{arch}}.zip\"\n\
         member = \"{{os}}-{{arch}}/tool{{exe}}\"\nsha256 = {{ windows-amd64 = \"{hex}\" }}\n"
    ));
    let a = manifest.resolve("tool", win).unwrap();
    let path = m.cache().fetch(&a, &mut |_| {}).unwrap();
    assert_eq!(fs::read(path).unwrap(), exe);
}

/// `.zst`, `.tbz2` and friends were staged "raw", as if the archive were the binary. Now
/// `stage --dry-run` refuses them naming the key, the file and the supported formats,
/// before any download; `format` in vendor.toml is the way to say what a URL does not.
#[test]
fn unsupported_suffix_is_refused_with_the_supported_list() {
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root().join("extension/metadata.json")).unwrap())
            .unwrap();
    let mut meta = meta;
    meta["host"]["binaries"] =
        serde_json::json!([{"linux": [{"path": "/linux/host-bin"}, {"path": "/linux/tool"}]}]);
    let meta = metadata_variant("zst", &meta.to_string());
    let pin = "0".repeat(64);
    let target = target_dir("vendor-zst");
    let cache = target.join("cache");
    for (url, ext) in [
        ("tool-{version}-{os}-{arch}.tar.zst", ".tar.zst"),
        ("tool-{version}-{os}-{arch}.zst", ".zst"),
        ("tool-{version}-{os}-{arch}.tbz2", ".tbz2"),
    ] {
        fs::write(
            meta.with_file_name("vendor.toml"),
            format!(
                "[tool]\nversion = \"1.0\"\nurl = \"https://example.invalid/{url}\"\n\
                 sha256 = {{ linux-amd64 = \"{pin}\", linux-arm64 = \"{pin}\" }}\n"
            ),
        )
        .unwrap();
        let mut cmd = xtask(
            &target,
            &[
                "stage",
                "--dry-run",
                "--toolchain",
                "zigbuild",
                "--metadata",
                meta.as_str(),
            ],
        );
        let err = run_err(cmd.env("XTASK_VENDOR_CACHE", &cache));
        let file = url
            .replace("{version}", "1.0")
            .replace("{os}-{arch}", "linux-amd64");
        assert!(
            err.contains(&format!(
                "tool.url: `{file}`: `{ext}` files are not supported (supported: raw, gz, xz, \
                 tar, tar.gz (or tgz), tar.xz (or txz), zip;"
            )) && err.contains("set `format` if the URL misleads"),
            "{err}"
        );
    }
    assert!(!cache.exists(), "nothing was fetched");
}
