//! Unpacking: archives that must be refused (no such member, entries climbing out, links
//! as members), and the files taken out of a `.gz` and of one archive's two members.

use std::fs;
use std::io::Write;

use camino::Utf8Path;
use xtask::vendor::fetch::sha256_file;

use super::mirror::{write_tar_gz, write_zip, Mirror};
use super::{fault, fixture, p, ready, HELM, K1};

#[test]
fn archive_faults() {
    if !ready() {
        return;
    }
    use tar::EntryType::{Regular, Symlink};
    let m = Mirror::start("archives");
    let exe = fixture("helm", HELM, p("linux-amd64"));
    let cases: Vec<(&str, &str)> = vec![
        ("nomember", "archive has no member `linux-amd64/helm`; it holds: bin/helm, LICENSE"),
        ("dotdot", "archive entry `../evil` climbs out of the directory with `..`"),
        ("absolute", "archive entry `/etc/evil` is an absolute path"),
        ("symlink-out", "archive entry `linux-amd64/helm` is a symlink to `../../usr/bin/helm`, outside the archive's directory"),
        ("symlink-member", "archive member `linux-amd64/helm` is a link (to `helm-3`), not a file; name the file it points to as `member`"),
        ("zip-dotdot", "archive entry `../../evil.exe` climbs out of the directory with `..`"),
        ("zip-symlink", "archive member `linux-amd64/helm` is a symlink, not a file; name the file it points to as `member`"),
        ("zip-nomember", "archive has no member `linux-amd64/helm`; it holds: linux-amd64/helm.exe"),
    ];
    let dir = m.www("/helm/bad");
    fs::create_dir_all(&dir).unwrap();
    let f = |case: &str| {
        dir.join(format!(
            "{case}.{}",
            if case.starts_with("zip") {
                "zip"
            } else {
                "tar.gz"
            }
        ))
    };
    let tar =
        |case, entries: &[(&str, tar::EntryType, &str, &[u8])]| write_raw_tar_gz(&f(case), entries);
    tar(
        "nomember",
        &[
            ("bin/helm", Regular, "", &exe),
            ("LICENSE", Regular, "", b"x"),
        ],
    );
    tar(
        "dotdot",
        &[
            ("linux-amd64/helm", Regular, "", &exe),
            ("../evil", Regular, "", b"x"),
        ],
    );
    tar(
        "absolute",
        &[
            ("/etc/evil", Regular, "", b"x"),
            ("linux-amd64/helm", Regular, "", &exe),
        ],
    );
    tar(
        "symlink-out",
        &[("linux-amd64/helm", Symlink, "../../usr/bin/helm", b"")],
    );
    tar(
        "symlink-member",
        &[
            ("linux-amd64/helm-3", Regular, "", &exe),
            ("linux-amd64/helm", Symlink, "helm-3", b""),
        ],
    );
    let member = |name: &str| vec![(name.to_owned(), exe.clone())];
    write_zip(
        &f("zip-dotdot"),
        &[member("linux-amd64/helm"), member("../../evil.exe")].concat(),
        &[],
    );
    write_zip(
        &f("zip-symlink"),
        &member("linux-amd64/helm-3"),
        &[("linux-amd64/helm", "helm-3")],
    );
    write_zip(&f("zip-nomember"), &member("linux-amd64/helm.exe"), &[]);

    let mut text = String::new();
    for (case, _) in &cases {
        let name = f(case).file_name().unwrap().to_owned();
        let hex = sha256_file(&f(case)).unwrap();
        text += &format!(
            "[{case}]\nversion = \"1\"\nurl = \"https://get.helm.sh/bad/{name}\"\nmember = \"{{os}}-{{arch}}/helm\"\n\
             sha256 = {{ linux-amd64 = \"{hex}\" }}\n"
        );
    }
    let manifest = m.manifest(&text);
    for (case, want) in cases {
        let err = fault(&m.cache(), &manifest, case, "linux-amd64");
        assert!(err.ends_with(&format!(": {want}")), "{case}: {err}");
    }
}

/// A `.gz` (one compressed file, no members) and two binaries taken out of one archive:
/// each usable file is recorded with its own SHA-256 when unpacked, a damaged one in the
/// cache is unpacked again rather than trusted, and the two members never stand in for
/// each other.
#[test]
fn unpacked_files_are_recorded_rechecked_and_kept_apart() {
    if !ready() {
        return;
    }
    let m = Mirror::start("unpacked");
    let linux = p("linux-amd64");
    let tool = fixture("kubectl", K1, linux);
    let helper = fixture("helm", HELM, linux);
    // tool-1.0-linux-amd64.gz, and bundle-1.0-linux-amd64.tar.gz holding both binaries.
    let gz = m.www("/x/tool-1.0-linux-amd64.gz");
    fs::create_dir_all(gz.parent().unwrap()).unwrap();
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&tool).unwrap();
    enc.finish().unwrap();
    let bundle = m.www("/x/bundle-1.0-linux-amd64.tar.gz");
    write_tar_gz(
        &bundle,
        &[
            ("tool".into(), tool.clone()),
            ("helper".into(), helper.clone()),
        ],
    );
    let (gz_sha, bundle_sha) = (sha256_file(&gz).unwrap(), sha256_file(&bundle).unwrap());
    let base = &m.server.base;
    let manifest = m.manifest(&format!(
        "[tool]\nversion = \"1.0\"\nurl = \"{base}/x/tool-{{version}}-{{os}}-{{arch}}.gz\"\n\
         sha256 = {{ linux-amd64 = \"{gz_sha}\" }}\n\
         [tool2]\nversion = \"1.0\"\nurl = \"{base}/x/bundle-{{version}}-{{os}}-{{arch}}.tar.gz\"\nmember = \"tool\"\n\
         sha256 = {{ linux-amd64 = \"{bundle_sha}\" }}\n\
         [helper]\nversion = \"1.0\"\nurl = \"{base}/x/bundle-{{version}}-{{os}}-{{arch}}.tar.gz\"\nmember = \"helper\"\n\
         sha256 = {{ linux-amd64 = \"{bundle_sha}\" }}\n"
    ));
    let cache = m.cache();
    let fetch = |name: &str| {
        let a = manifest.resolve(name, linux).unwrap();
        let path = cache.fetch(&a, &mut |_| {}).unwrap();
        (a, path)
    };
    let (a, path) = fetch("tool");
    assert_eq!(fs::read(&path).unwrap(), tool, "the .gz's content");
    let recorded = cache.expected_sha256(&a).unwrap();
    assert_eq!(recorded, sha256_file(&path).unwrap());
    assert_ne!(
        recorded, gz_sha,
        "the pin is the download's, the record the content's"
    );

    // Two members of one archive: two files, each its own bytes and record.
    let (a2, tool_path) = fetch("tool2");
    let (a3, helper_path) = fetch("helper");
    assert_ne!(tool_path, helper_path);
    assert_eq!(fs::read(&tool_path).unwrap(), tool);
    assert_eq!(fs::read(&helper_path).unwrap(), helper);
    assert_ne!(cache.expected_sha256(&a2), cache.expected_sha256(&a3));
    assert_eq!(
        m.server.hits("/x/bundle-1.0-linux-amd64.tar.gz"),
        1,
        "one download for both"
    );

    // A damaged unpacked file is unpacked again from the (re-verified) download.
    fs::write(&helper_path, b"damaged").unwrap();
    let (_, again) = fetch("helper");
    assert_eq!(
        fs::read(again).unwrap(),
        helper,
        "unpacked again, not trusted"
    );
    assert_eq!(
        m.server.hits("/x/bundle-1.0-linux-amd64.tar.gz"),
        1,
        "from the cache"
    );
}

/// A .tar.gz with raw entries `(name, kind, link, data)`, names and links written as-is
/// (the tar crate's builder refuses `..`, which is the point of these fixtures).
fn write_raw_tar_gz(path: &Utf8Path, entries: &[(&str, tar::EntryType, &str, &[u8])]) {
    let gz =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for &(name, kind, link, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append(&h, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}
