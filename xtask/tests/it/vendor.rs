//! `vendor.toml` end to end, over real HTTP: a server this test starts on a loopback port
//! serves mirrors of dl.k8s.io (`release/vX/bin/OS/ARCH/kubectl[.exe]` + `.sha256`) and
//! get.helm.sh (`helm-vX-OS-ARCH.tar.gz`, `.zip` on Windows, `.sha256sum`) holding real
//! executables for every OS/CPU, compiled with zig. Covered: `lock` from the published
//! checksum files, fetch of every platform of `extension/vendor.example.toml`, each fault,
//! offline with a warm and a cold cache, two processes sharing one cache, cache reuse
//! (requests counted on the server).
//!
//! Under `CI` a missing curl or zig fails the test; elsewhere the test is skipped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use std::{fs, thread};

use camino::{Utf8Path, Utf8PathBuf};
use xtask::vendor::{Manifest, Os, Platform};
use xtask::vendor_fetch::{parse_mirrors, sha256_file, Cache, Event, FetchOptions};
use xtask::vendor_lock::{lock, LockRequest};

use crate::support::require;

pub(crate) const K1: &str = "1.31.2";
const K2: &str = "1.31.3";
pub(crate) const HELM: &str = "3.16.3";

// ---------------------------------------------------------------- prerequisites

fn runs(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// `zig cc`, from PATH or python's `ziglang` package.
fn zig() -> Option<Command> {
    if runs(Command::new("zig").arg("version")) {
        return Some(Command::new("zig"));
    }
    if runs(Command::new("python3").args(["-m", "ziglang", "version"])) {
        let mut c = Command::new("python3");
        c.args(["-m", "ziglang"]);
        return Some(c);
    }
    None
}

pub(crate) fn ready() -> bool {
    require(
        "curl",
        runs(Command::new("curl").arg("--version")),
        "apt-get install curl",
    ) && require("zig", zig().is_some(), "pip install ziglang==0.14.1")
}

// ---------------------------------------------------------------- fixture binaries

fn zig_target(p: Platform) -> &'static str {
    match (p.os.dir(), p.arch.docker()) {
        ("darwin", "amd64") => "x86_64-macos",
        ("darwin", _) => "aarch64-macos",
        ("linux", "amd64") => "x86_64-linux-musl",
        ("linux", _) => "aarch64-linux-musl",
        ("windows", "amd64") => "x86_64-windows-gnu",
        _ => "aarch64-windows-gnu",
    }
}

const TOOLS: [(&str, &str, &str); 3] = [
    ("kubectl", K1, "Client Version: v"),
    ("kubectl", K2, "Client Version: v"),
    ("helm", HELM, "v"),
];

/// Real executables for every (tool, version, platform), built once per test run.
fn fixtures() -> &'static Utf8Path {
    static DIR: OnceLock<Utf8PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vendor-fixtures");
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("tool.c");
        fs::write(
            &src,
            "#include <stdio.h>\nint main(void) { puts(TEXT); return 0; }\n",
        )
        .unwrap();
        thread::scope(|s| {
            for p in Platform::ALL {
                let (dir, src) = (&dir, &src);
                s.spawn(move || {
                    for (tool, version, prefix) in TOOLS {
                        let out = fixture_path(dir, tool, version, p);
                        fs::create_dir_all(out.parent().unwrap()).unwrap();
                        let o = zig()
                            .unwrap()
                            .args(["cc", "-target", zig_target(p), "-Os"])
                            .arg(format!("-DTEXT=\"{prefix}{version}\""))
                            .args([src.as_str(), "-o", out.as_str()])
                            .output()
                            .unwrap();
                        assert!(
                            o.status.success(),
                            "zig cc for {p}: {}",
                            String::from_utf8_lossy(&o.stderr)
                        );
                        assert_eq!(sniff(&fs::read(&out).unwrap()), Some(p), "{out}");
                    }
                });
            }
        });
        dir
    })
}

fn fixture_path(dir: &Utf8Path, tool: &str, version: &str, p: Platform) -> Utf8PathBuf {
    dir.join(format!("{tool}-{version}/{p}/{tool}{}", p.os.exe_suffix()))
}

pub(crate) fn fixture(tool: &str, version: &str, p: Platform) -> Vec<u8> {
    fs::read(fixture_path(fixtures(), tool, version, p)).unwrap()
}

/// Which OS and CPU an executable's header says (ELF e_machine, Mach-O cputype, PE Machine).
pub(crate) fn sniff(b: &[u8]) -> Option<Platform> {
    let u16le = |at: usize| -> Option<u32> {
        Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?).into())
    };
    let u32le = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let (os, cpu): (Os, Option<u32>) = match b.get(..4)? {
        [0x7f, b'E', b'L', b'F'] => (Os::Linux, u16le(18)),
        [0xcf, 0xfa, 0xed, 0xfe] => (Os::Darwin, u32le(4)),
        [b'M', b'Z', ..] => {
            let pe = u32le(0x3c)? as usize;
            if b.get(pe..pe + 4)? != b"PE\0\0" {
                return None;
            }
            (Os::Windows, u16le(pe + 4))
        }
        _ => return None,
    };
    let arch = match cpu? {
        0x3e | 0x0100_0007 | 0x8664 => "amd64",
        0xb7 | 0x0100_000c | 0xaa64 => "arm64",
        _ => return None,
    };
    Platform::parse(&format!("{}-{arch}", os.dir()))
}

// ---------------------------------------------------------------- the HTTP server

#[derive(Clone)]
enum Rule {
    /// The first `n` requests get this status.
    Status(u16, usize),
    /// Announces the full length, sends half, closes.
    Truncate,
    Redirect(String),
    /// The first `n` requests get headers and then silence for this long.
    Stall(usize, Duration),
    /// Answers after a pause (to overlap two clients).
    Delay(Duration),
}

#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) base: String,
    www: Utf8PathBuf,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    rules: Arc<Mutex<HashMap<String, Rule>>>,
}

impl Server {
    fn start(www: Utf8PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = Server {
            base: format!("http://{}", listener.local_addr().unwrap()),
            www,
            hits: Arc::default(),
            rules: Arc::default(),
        };
        let server = s.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let server = server.clone();
                thread::spawn(move || {
                    let _ = server.answer(conn);
                });
            }
        });
        s
    }

    fn rule(&self, path: &str, rule: Rule) {
        self.rules.lock().unwrap().insert(path.to_owned(), rule);
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub(crate) fn total(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }

    fn answer(&self, mut conn: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
        }
        let n = {
            let mut hits = self.hits.lock().unwrap();
            let n = hits.entry(path.clone()).or_default();
            *n += 1;
            *n
        };
        let rule = self.rules.lock().unwrap().get(&path).cloned();
        let file = path.split('?').next().unwrap().trim_start_matches('/');
        let body = (!file.contains("..")).then(|| fs::read(self.www.join(file)).ok());
        let head = |code: u16, len: usize, extra: &str| {
            format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n"
            )
        };
        match (rule, body.flatten()) {
            (Some(Rule::Status(code, times)), _) if n <= times => {
                conn.write_all(head(code, 5, "").as_bytes())?;
                conn.write_all(b"oops\n")?;
            }
            (Some(Rule::Redirect(to)), _) => {
                conn.write_all(head(302, 0, &format!("Location: {to}\r\n")).as_bytes())?;
            }
            (Some(Rule::Stall(times, pause)), Some(b)) if n <= times => {
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.flush()?;
                thread::sleep(pause);
            }
            (Some(Rule::Truncate), Some(b)) => {
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.write_all(&b[..b.len() / 2])?;
            }
            (rule, Some(b)) => {
                if let Some(Rule::Delay(pause)) = rule {
                    thread::sleep(pause);
                }
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.write_all(&b)?;
            }
            (_, None) => conn.write_all(head(404, 0, "").as_bytes())?,
        }
        conn.flush()?;
        conn.shutdown(std::net::Shutdown::Both)
    }
}

// ---------------------------------------------------------------- the mirrors

pub(crate) struct Mirror {
    /// This test's scratch directory: `www/` (served), `cache/`, manifests.
    pub(crate) dir: Utf8PathBuf,
    pub(crate) server: Server,
}

pub(crate) fn k8s_path(version: &str, p: Platform) -> String {
    format!(
        "/k8s/release/v{version}/bin/{}/{}/kubectl{}",
        p.os.dir(),
        p.arch.docker(),
        p.os.exe_suffix()
    )
}

pub(crate) fn helm_path(p: Platform) -> String {
    let ext = if p.os == Os::Windows { "zip" } else { "tar.gz" };
    format!("/helm/helm-v{HELM}-{p}.{ext}")
}

impl Mirror {
    /// A fresh scratch dir with both mirrors in `www/` and a server on it.
    pub(crate) fn start(test: &str) -> Mirror {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("vendor")
            .join(test);
        let _ = fs::remove_dir_all(&dir);
        let www = dir.join("www");
        for version in [K1, K2] {
            for p in Platform::ALL {
                let file = www.join(&k8s_path(version, p)[1..]);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, fixture("kubectl", version, p)).unwrap();
                // dl.k8s.io: the bare digest, no newline.
                let hex = sha256_file(&file).unwrap();
                fs::write(format!("{file}.sha256"), hex).unwrap();
            }
        }
        for p in Platform::ALL {
            let file = www.join(&helm_path(p)[1..]);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            let top = p.to_string();
            let members = [
                (
                    format!("{top}/helm{}", p.os.exe_suffix()),
                    fixture("helm", HELM, p),
                ),
                (format!("{top}/LICENSE"), b"Apache License 2.0\n".to_vec()),
                (format!("{top}/README.md"), b"# Helm\n".to_vec()),
            ];
            if p.os == Os::Windows {
                write_zip(&file, &members, &[]);
            } else {
                write_tar_gz(&file, &members);
            }
            // get.helm.sh: "HEX  FILENAME\n".
            let name = file.file_name().unwrap();
            let line = format!("{}  {name}\n", sha256_file(&file).unwrap());
            fs::write(format!("{file}.sha256sum"), line).unwrap();
        }
        let server = Server::start(www);
        Mirror { dir, server }
    }

    pub(crate) fn www(&self, path: &str) -> Utf8PathBuf {
        self.server.www.join(&path[1..])
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// What `XTASK_VENDOR_MIRROR` would say: upstream hosts onto this server.
    pub(crate) fn mirror_spec(&self) -> String {
        let b = &self.server.base;
        format!("https://dl.k8s.io={b}/k8s https://get.helm.sh={b}/helm")
    }

    fn opts(&self) -> FetchOptions {
        FetchOptions {
            mirrors: parse_mirrors(&self.mirror_spec()).unwrap(),
            retries: 2,
            stall_secs: 2,
            connect_timeout_secs: 5,
            ..FetchOptions::default()
        }
    }

    pub(crate) fn cache(&self) -> Cache {
        Cache::new(self.dir.join("cache"), self.opts())
    }

    pub(crate) fn manifest(&self, text: &str) -> Manifest {
        let path = self.dir.join("vendor.toml");
        fs::write(&path, text).unwrap();
        Manifest::load(&path).unwrap()
    }

    pub(crate) fn sha(&self, path: &str) -> String {
        sha256_file(&self.www(path)).unwrap()
    }

    /// Files in a cache outside `locks/`: what a failed fetch must not leave.
    fn cached_files(cache: &Cache) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![cache.dir().to_owned()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = d.read_dir_utf8() else {
                continue;
            };
            for e in entries.flatten() {
                if e.path().is_dir() && e.file_name() != "locks" {
                    stack.push(e.path().to_owned());
                } else if e.path().is_file() && !e.path().as_str().contains("/locks/") {
                    out.push(e.path().to_string());
                }
            }
        }
        out
    }
}

fn write_tar_gz(path: &Utf8Path, members: &[(String, Vec<u8>)]) {
    let gz =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
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

/// Zips with Python's zipfile, an implementation independent of the reader under test.
/// `symlinks`: `(name, target)` entries stored as Unix symlinks.
fn write_zip(path: &Utf8Path, members: &[(String, Vec<u8>)], symlinks: &[(&str, &str)]) {
    let staging = Utf8PathBuf::from(format!("{path}.d"));
    fs::create_dir_all(&staging).unwrap();
    let mut script = String::from(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n",
    );
    for (i, (name, data)) in members.iter().enumerate() {
        fs::write(staging.join(i.to_string()), data).unwrap();
        script += &format!(
            "z.writestr(zipfile.ZipInfo({name:?}), open({:?}, 'rb').read(), zipfile.ZIP_DEFLATED)\n",
            staging.join(i.to_string()).as_str()
        );
    }
    for (name, target) in symlinks {
        script += &format!(
            "i = zipfile.ZipInfo({name:?}); i.create_system = 3; i.external_attr = 0o120777 << 16\n\
             z.writestr(i, {target:?})\n"
        );
    }
    script += "z.close()\n";
    let o = Command::new("python3")
        .args(["-c", &script, path.as_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fs::remove_dir_all(staging).unwrap();
}

pub(crate) fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap()
}

/// Fetches and returns the error chain; asserts it names the binary, the platform and
/// the URL, and that nothing entered the cache.
pub(crate) fn fault(cache: &Cache, manifest: &Manifest, name: &str, platform: &str) -> String {
    let a = manifest.resolve(name, p(platform)).unwrap();
    let err = format!("{:#}", cache.fetch(&a, &mut |_| {}).unwrap_err());
    eprintln!("{err}");
    let url = cache.options().mirrored(&a.upstream.url);
    let head = format!("cannot fetch {name} for {platform}");
    assert!(err.starts_with(&head), "{err}");
    assert!(err.contains(&format!(" from {url}")), "{err}");
    assert_eq!(Mirror::cached_files(cache), Vec::<String>::new(), "{err}");
    err
}

fn kubectl_manifest(version: &str, pins: &[(&str, String)]) -> String {
    let mut s = format!(
        "[kubectl]\nversion = \"{version}\"\n\
         url = \"https://dl.k8s.io/release/v{{version}}/bin/{{os}}/{{arch}}/kubectl{{exe}}\"\n\
         [kubectl.sha256]\n"
    );
    for (platform, hex) in pins {
        s += &format!("{platform} = \"{hex}\"\n");
    }
    s
}

// ---------------------------------------------------------------- the tests

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
        platforms: &Platform::ALL,
        ..LockRequest::default()
    };
    let changes = lock(&path, &req, &cache, &mut |_| {}).unwrap();
    for c in &changes {
        eprintln!("{c}");
    }
    // kubectl: six pins; helm: five, windows-arm64 falls back to windows-amd64.
    assert_eq!(changes.len(), 11, "{changes:?}");
    for pl in Platform::ALL {
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
    let needed: Vec<(String, Platform)> = ["kubectl", "helm"]
        .iter()
        .flat_map(|n| Platform::ALL.map(|pl| (format!("{n}{}", pl.os.exe_suffix()), pl)))
        .collect();
    let needed: Vec<(&str, Platform)> = needed.iter().map(|(n, pl)| (n.as_str(), *pl)).collect();
    assert_eq!(manifest.check(&needed, &bins), Vec::<String>::new());

    let fetch_all = |cache: &Cache| {
        let mut downloads = 0;
        let mut on = |e: Event| downloads += matches!(e, Event::Downloading { .. }) as usize;
        for name in ["kubectl", "helm"] {
            for pl in Platform::ALL {
                let a = manifest.resolve(name, pl).unwrap();
                let got = cache.fetch(&a, &mut on).unwrap();
                let built_for = a.upstream.built_for;
                let version = if name == "helm" { HELM } else { K1 };
                assert_eq!(
                    fs::read(&got).unwrap(),
                    fixture(name, version, built_for),
                    "{got}"
                );
                assert_eq!(sniff(&fs::read(&got).unwrap()), Some(built_for), "{got}");
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
    assert_eq!(sniff(&fs::read(got).unwrap()), Some(p("darwin-amd64")));
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
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "vendor::worker_process",
        "--nocapture",
        "--test-threads=1",
    ])
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

/// The whole pipeline with third-party binaries: an extension that ships host-bin, kubectl
/// (raw binaries) and helm (tar.gz, zip on Windows, the amd64 build for arm64 Windows by a
/// declared fallback) on all six platforms. `cargo xtask vendor lock` pins the example
/// manifest from the mirror's checksum files, `dist --push` publishes, `verify` agrees, and
/// an independent export of each variant shows every file with the right header and the
/// mirror's exact bytes.
#[test]
fn dist_ships_kubectl_and_helm_beside_host_bin_on_all_six_platforms() {
    if !(ready() && crate::support::dist_ready()) {
        return;
    }
    let _s = crate::support::serial();
    let Some(reg) = crate::support::registry::Registry::start() else {
        return;
    };
    let m = Mirror::start("dist");
    let ours: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(crate::support::root().join("extension/metadata.json")).unwrap(),
    )
    .unwrap();
    let mut meta = ours.clone();
    meta["host"]["binaries"] = serde_json::json!([{
        "darwin": [{"path": "/darwin/host-bin"}, {"path": "/darwin/kubectl"}, {"path": "/darwin/helm"}],
        "windows": [{"path": "/windows/host-bin.exe"}, {"path": "/windows/kubectl.exe"}, {"path": "/windows/helm.exe"}],
        "linux": [{"path": "/linux/host-bin"}, {"path": "/linux/kubectl"}, {"path": "/linux/helm"}],
    }]);
    let meta = crate::support::metadata_variant("vendored", &meta.to_string());
    let example = crate::support::root().join("extension/vendor.example.toml");
    fs::copy(example, meta.with_file_name("vendor.toml")).unwrap();
    let env = |mut c: Command| {
        c.env("XTASK_VENDOR_MIRROR", m.mirror_spec())
            .env("XTASK_VENDOR_CACHE", m.dir.join("cache"));
        c
    };
    let target = crate::support::target_dir("dist");
    let out = crate::support::run_ok(env(crate::support::xtask(
        &target,
        &["vendor", "lock", "--metadata", meta.as_str()],
    )));
    let changes = String::from_utf8_lossy(&out.stdout);
    assert!(
        changes.contains("kubectl.sha256.linux-arm64: (none) -> ")
            && changes.contains("helm.sha256.windows-amd64: (none) -> ")
            && !changes.contains("helm.sha256.windows-arm64"),
        "{changes}"
    );
    let before = m.server.total();

    let image = reg.image("vendored");
    let out = crate::support::run_ok(env(crate::support::xtask(
        &target,
        &[
            "dist",
            "--toolchain",
            "zigbuild",
            "--metadata",
            meta.as_str(),
            "--image",
            &image,
            "--tag",
            "0.1.0",
            "--push",
            "--json",
        ],
    )));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("helm for windows-arm64 is the windows-amd64 build (fallback in vendor.toml"),
        "the fallback is said out loud:\n{log}"
    );
    // kubectl: 6 binaries; helm: 5 archives (windows-arm64 takes windows-amd64's).
    assert_eq!(m.server.total() - before, 11, "downloads");
    for (p, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let v = &json["vendored"][p];
        assert_eq!(v.as_object().unwrap().len(), 6, "{json:#}");
        // arm64 Windows ships the amd64 build: the fallback the example declares.
        assert_eq!(
            v["windows/helm.exe"]["built_for"], "windows-amd64",
            "{arch}: {json:#}"
        );
        assert_eq!(v["linux/kubectl"]["version"], K1);
        // The smoke run ran the vendored Linux binaries too (natively, or under qemu).
        let smoke = json["smoke"][p].as_array().unwrap();
        for path in ["linux/kubectl", "linux/helm"] {
            let s = smoke.iter().find(|s| s["path"] == path).unwrap();
            assert_eq!(s["outcome"], "passed", "{p} {path}: {s}");
        }
    }

    // Independently: each variant's files, by their headers and bytes.
    let reference = format!("{image}:0.1.0");
    let index: serde_json::Value =
        serde_json::from_slice(&reg.raw_manifest(&reference).unwrap()).unwrap();
    for manifest in index["manifests"].as_array().unwrap() {
        let (os, arch) = (
            &manifest["platform"]["os"],
            &manifest["platform"]["architecture"],
        );
        if os != "linux" {
            continue;
        }
        let platform =
            xtask::target::Platform::parse(&format!("linux/{}", arch.as_str().unwrap())).unwrap();
        let digest = manifest["digest"].as_str().unwrap();
        let fs_root = crate::support::export_fs(
            &format!("{image}@{digest}"),
            platform,
            &crate::support::target_dir("vendor-export").join(platform.stage_name()),
        );
        for os in [Os::Darwin, Os::Windows, Os::Linux] {
            for tool in ["kubectl", "helm"] {
                let file = fs_root
                    .join(os.dir())
                    .join(format!("{tool}{}", os.exe_suffix()));
                let bytes = fs::read(&file).unwrap_or_else(|_| panic!("{file} missing"));
                let want_arch = match (tool, os, arch.as_str().unwrap()) {
                    ("helm", Os::Windows, _) => "amd64",
                    (_, _, a) => a,
                };
                let want = Platform::parse(&format!("{}-{want_arch}", os.dir())).unwrap();
                assert_eq!(sniff(&bytes), Some(want), "{file}");
                let version = if tool == "kubectl" { K1 } else { HELM };
                assert_eq!(
                    bytes,
                    fixture(tool, version, want),
                    "{file}: the mirror's bytes"
                );
            }
        }
    }
    crate::support::run_ok(crate::support::xtask(
        &crate::support::target_dir("vendor-verify"),
        &["verify", "--metadata", meta.as_str(), &reference],
    ));

    // Faults through the CLI leave the staged tree as the last good run left it.
    let staged = target.join("dist/stage");
    let good = crate::support::snapshot(&staged);
    let manifest = meta.with_file_name("vendor.toml");
    let pinned = fs::read_to_string(&manifest).unwrap();
    let linux_amd64 = m.sha(&k8s_path(K1, p("linux-amd64")));
    let wrong = "0".repeat(64);
    fs::write(&manifest, pinned.replace(&linux_amd64, &wrong)).unwrap();
    let err = crate::support::run_err(env(crate::support::xtask(
        &target,
        &[
            "stage",
            "--toolchain",
            "zigbuild",
            "--metadata",
            meta.as_str(),
        ],
    )));
    let url = format!(
        "{}/k8s/release/v{K1}/bin/linux/amd64/kubectl",
        m.server.base
    );
    assert!(
        err.contains(&format!("cannot fetch kubectl for linux-amd64 from {url}"))
            && err.contains(&format!(
                "checksum mismatch: expected sha256 {wrong}, found {linux_amd64}"
            )),
        "{err}"
    );
    assert!(
        crate::support::snapshot(&staged) == good,
        "a failed stage changed the staged tree"
    );
    // Offline with a cold cache: says what is missing and how to fill the cache.
    fs::write(&manifest, &pinned).unwrap();
    let err = crate::support::run_err(
        env(crate::support::xtask(
            &target,
            &[
                "stage",
                "--toolchain",
                "zigbuild",
                "--offline",
                "--metadata",
                meta.as_str(),
            ],
        ))
        .env("XTASK_VENDOR_CACHE", m.dir.join("cold-cache")),
    );
    assert!(
        err.contains("offline (--offline or CARGO_NET_OFFLINE=true)")
            && err.contains("cargo xtask vendor fetch"),
        "{err}"
    );
    assert!(
        crate::support::snapshot(&staged) == good,
        "a failed stage changed the staged tree"
    );
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
