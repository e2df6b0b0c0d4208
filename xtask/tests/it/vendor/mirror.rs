//! The mirrors of dl.k8s.io and get.helm.sh on a loopback `Server`, with each test's
//! scratch directory, cache and manifest, and the archive writers the mirrors use.

use std::fs;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use xtask::vendor::fetch::{parse_mirrors, sha256_file, Cache, FetchOptions};
use xtask::vendor::{HostPlatform, Manifest, Os};

use super::server::Server;
use super::{fixture, HELM, K1, K2};

pub(super) struct Mirror {
    /// This test's scratch directory: `www/` (served), `cache/`, manifests.
    pub(super) dir: Utf8PathBuf,
    pub(super) server: Server,
}

pub(super) fn k8s_path(version: &str, p: HostPlatform) -> String {
    format!(
        "/k8s/release/v{version}/bin/{}/{}/kubectl{}",
        p.os.dir(),
        p.arch.docker(),
        p.os.exe_suffix()
    )
}

pub(super) fn helm_path(p: HostPlatform) -> String {
    let ext = if p.os == Os::Windows { "zip" } else { "tar.gz" };
    format!("/helm/helm-v{HELM}-{p}.{ext}")
}

impl Mirror {
    /// A fresh scratch dir with both mirrors in `www/` and a server on it.
    pub(super) fn start(test: &str) -> Mirror {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("vendor")
            .join(test);
        let _ = fs::remove_dir_all(&dir);
        let www = dir.join("www");
        for version in [K1, K2] {
            for p in HostPlatform::ALL {
                let file = www.join(&k8s_path(version, p)[1..]);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, fixture("kubectl", version, p)).unwrap();
                // dl.k8s.io: the bare digest, no newline.
                let hex = sha256_file(&file).unwrap();
                fs::write(format!("{file}.sha256"), hex).unwrap();
            }
        }
        for p in HostPlatform::ALL {
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

    pub(super) fn www(&self, path: &str) -> Utf8PathBuf {
        self.server.www.join(&path[1..])
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// What `XTASK_VENDOR_MIRROR` would say: upstream hosts onto this server.
    pub(super) fn mirror_spec(&self) -> String {
        let b = &self.server.base;
        format!("https://dl.k8s.io={b}/k8s https://get.helm.sh={b}/helm")
    }

    pub(super) fn opts(&self) -> FetchOptions {
        FetchOptions {
            mirrors: parse_mirrors(&self.mirror_spec()).unwrap(),
            retries: 2,
            stall_secs: 2,
            connect_timeout_secs: 5,
            ..FetchOptions::default()
        }
    }

    pub(super) fn cache(&self) -> Cache {
        Cache::new(self.dir.join("cache"), self.opts())
    }

    pub(super) fn manifest(&self, text: &str) -> Manifest {
        let path = self.dir.join("vendor.toml");
        fs::write(&path, text).unwrap();
        Manifest::load(&path).unwrap()
    }

    pub(super) fn sha(&self, path: &str) -> String {
        sha256_file(&self.www(path)).unwrap()
    }

    /// Files in a cache outside `locks/`: what a failed fetch must not leave.
    pub(super) fn cached_files(cache: &Cache) -> Vec<String> {
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

pub(super) fn write_tar_gz(path: &Utf8Path, members: &[(String, Vec<u8>)]) {
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

/// Zips with Python's zipfile, an implementation independent of the reader under test.
/// `symlinks`: `(name, target)` entries stored as Unix symlinks.
pub(super) fn write_zip(path: &Utf8Path, members: &[(String, Vec<u8>)], symlinks: &[(&str, &str)]) {
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
