//! Downloads pinned artifacts into a content-addressed cache shared by every checkout of
//! the user, verifies them by SHA-256 before anything reads them, and extracts the member.
//!
//! Layout under the cache directory (`XTASK_VENDOR_CACHE`, else the user's cache dir):
//! `sha256/<hex>` verified downloads, `extracted/<hex>/<member>` binaries taken out of
//! archives, `tmp/` downloads in flight (same file system, so a rename publishes them
//! atomically), `locks/<hex>.lock` one lock per artifact, so two processes sharing the
//! cache download it once. A download that fails, is cut short or hashes wrong never
//! leaves `tmp/`; a download whose archive lacks a usable member never leaves it either.
//! The network is `curl`.

use std::fs::{self, File};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::archive::{self, Format};
use crate::curl::{download, ensure_curl, host, Patience};
use crate::digest;
use crate::manifest::{Artifact, Upstream};

/// How downloads behave; [`FetchOptions::from_env`] reads the environment once, at the edge.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Use only the cache (`--offline`, `CARGO_NET_OFFLINE=true`).
    pub offline: bool,
    /// Largest download, and largest extracted member, in bytes.
    pub max_bytes: u64,
    /// These three: see [`Patience`].
    pub retries: u32,
    pub connect_timeout_secs: u32,
    pub stall_secs: u32,
    /// URL prefix rewrites, longest first: `XTASK_VENDOR_MIRROR`.
    pub mirrors: Vec<(String, String)>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            offline: false,
            max_bytes: 512 << 20,
            retries: 3,
            connect_timeout_secs: 30,
            stall_secs: 60,
            mirrors: Vec::new(),
        }
    }
}

impl FetchOptions {
    /// `CARGO_NET_OFFLINE=true`, `XTASK_VENDOR_MAX_BYTES=N`, and
    /// `XTASK_VENDOR_MIRROR="https://dl.k8s.io=https://mirror.corp/k8s https://get.helm.sh=..."`
    /// (pairs separated by spaces or commas). Content is addressed by hash, so a mirror can
    /// only serve the bytes the pins name.
    pub fn from_env() -> Result<FetchOptions> {
        let mut o = FetchOptions {
            offline: std::env::var("CARGO_NET_OFFLINE").is_ok_and(|v| v == "true"),
            ..FetchOptions::default()
        };
        if let Ok(v) = std::env::var("XTASK_VENDOR_MAX_BYTES") {
            o.max_bytes = v
                .parse()
                .with_context(|| format!("XTASK_VENDOR_MAX_BYTES={v}: not a number of bytes"))?;
        }
        if let Ok(v) = std::env::var("XTASK_VENDOR_MIRROR") {
            o.mirrors = parse_mirrors(&v).context("XTASK_VENDOR_MIRROR")?;
        }
        Ok(o)
    }

    pub fn patience(&self) -> Patience {
        Patience {
            retries: self.retries,
            connect_timeout_secs: self.connect_timeout_secs,
            stall_secs: self.stall_secs,
        }
    }

    /// The URL actually fetched for an upstream one.
    pub fn mirrored(&self, url: &str) -> String {
        for (from, to) in &self.mirrors {
            if let Some(rest) = url.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        url.to_owned()
    }
}

pub fn parse_mirrors(spec: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in spec.split([' ', ',', '\n']).filter(|s| !s.is_empty()) {
        let Some((from, to)) = pair.split_once('=') else {
            bail!("`{pair}` is not PREFIX=REPLACEMENT");
        };
        for u in [from, to] {
            if host(u).is_none() {
                bail!("`{u}` in `{pair}` is not an http(s):// URL");
            }
        }
        out.push((from.to_owned(), to.to_owned()));
    }
    out.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    Ok(out)
}

/// What [`Cache::fetch`] did, for the caller's progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Already in the cache (and re-verified).
    Cached {
        path: Utf8PathBuf,
    },
    Downloading {
        url: String,
    },
    Downloaded {
        url: String,
        bytes: u64,
    },
}

pub struct Cache {
    dir: Utf8PathBuf,
    opts: FetchOptions,
}

impl Cache {
    pub fn new(dir: impl Into<Utf8PathBuf>, opts: FetchOptions) -> Cache {
        Cache {
            dir: dir.into(),
            opts,
        }
    }

    /// `XTASK_VENDOR_CACHE`, else `$XDG_CACHE_HOME/xtask-vendor`, else the platform's
    /// per-user cache dir (`~/Library/Caches`, `%LOCALAPPDATA%`, `~/.cache`).
    pub fn default_dir() -> Result<Utf8PathBuf> {
        crate::paths::user_cache("xtask-vendor", "XTASK_VENDOR_CACHE")
    }

    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    pub fn blob_path(&self, sha256: &str) -> Utf8PathBuf {
        self.dir.join("sha256").join(sha256)
    }

    /// The verified binary for `a`, inside the cache; the caller copies it and sets 0755.
    pub fn fetch(&self, a: &Artifact, on: &mut dyn FnMut(Event)) -> Result<Utf8PathBuf> {
        let url = self.opts.mirrored(&a.upstream.url);
        let context = || {
            let mut s = format!("cannot fetch {} for {}", a.name, a.platform);
            if a.upstream.built_for != a.platform {
                s += &format!(" (its {} build)", a.upstream.built_for);
            }
            s += &format!(" from {url}");
            if url != a.upstream.url {
                s += &format!(" (mirror of {})", a.upstream.url);
            }
            s
        };
        self.fetch_inner(a, &url, on).with_context(context)
    }

    fn fetch_inner(
        &self,
        a: &Artifact,
        url: &str,
        on: &mut dyn FnMut(Event),
    ) -> Result<Utf8PathBuf> {
        let out = self.out_path(&a.sha256, &a.upstream, &a.file_name());
        // An extracted file exists only once its archive was verified and unpacked, and
        // it is used only while it still hashes as it did then.
        if a.upstream.format != Format::Raw && self.unpacked_intact(&out) {
            on(Event::Cached { path: out.clone() });
            return Ok(out);
        }
        let _lock = self.lock(&a.sha256)?;
        // Another process may have unpacked it while we waited for the lock.
        if a.upstream.format != Format::Raw && self.unpacked_intact(&out) {
            on(Event::Cached { path: out.clone() });
            return Ok(out);
        }
        let verified = self.verified(&a.sha256, url, on)?;
        self.finish(verified, &a.sha256, &a.upstream, &out)
    }

    /// The SHA-256 the usable binary of `a` must have: the pin for a raw download, what
    /// unpacking recorded for a file taken out of an archive. `None` when not fetched.
    pub fn expected_sha256(&self, a: &Artifact) -> Option<String> {
        if a.upstream.format == Format::Raw {
            return Some(a.sha256.clone());
        }
        let out = self.out_path(&a.sha256, &a.upstream, &a.file_name());
        fs::read_to_string(sidecar(&out))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// `out` exists and hashes as recorded when it was unpacked.
    fn unpacked_intact(&self, out: &Utf8Path) -> bool {
        let recorded = fs::read_to_string(sidecar(out)).ok();
        out.is_file() && recorded.is_some_and(|r| sha256_file(out).is_ok_and(|h| h == r.trim()))
    }

    /// Where the usable binary lives: the download itself, or what was taken out of it.
    fn out_path(&self, sha256: &str, up: &Upstream, file_name: &str) -> Utf8PathBuf {
        match (&up.member, up.format) {
            (None, Format::Raw) => self.blob_path(sha256),
            (Some(m), _) => self.dir.join("extracted").join(sha256).join(m),
            (None, _) => self.dir.join("extracted").join(sha256).join(file_name),
        }
    }

    /// Unpacks (if needed) into `out`, then moves a fresh download into the cache: an
    /// archive without a usable member leaves nothing behind.
    fn finish(
        &self,
        verified: Verified,
        sha256: &str,
        up: &Upstream,
        out: &Utf8Path,
    ) -> Result<Utf8PathBuf> {
        let unpacked = if up.format == Format::Raw {
            Ok(())
        } else {
            self.unpack(verified.path(), up, out)
        };
        if let Err(e) = unpacked {
            verified.discard();
            return Err(e);
        }
        if let Verified::Fresh(tmp) = verified {
            let blob = self.blob_path(sha256);
            fs::create_dir_all(blob.parent().expect("below the cache dir"))?;
            fs::rename(&tmp, &blob).with_context(|| format!("cannot move {tmp} to {blob}"))?;
        }
        Ok(out.to_owned())
    }

    fn unpack(&self, archive: &Utf8Path, up: &Upstream, out: &Utf8Path) -> Result<()> {
        let tmp = self.tmp_path()?;
        let extracted = archive::extract(
            archive.as_std_path(),
            up.format,
            up.member.as_deref(),
            tmp.as_std_path(),
            self.opts.max_bytes,
        );
        let hashed = extracted
            .and_then(|()| make_executable(&tmp))
            .and_then(|()| sha256_file(&tmp));
        let hash = match hashed {
            Ok(h) => h,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        fs::create_dir_all(out.parent().expect("below the cache dir"))?;
        // The hash first: a file without its record is unpacked again, never trusted.
        let _ = fs::remove_file(sidecar(out));
        fs::rename(&tmp, out).with_context(|| format!("cannot move {tmp} to {out}"))?;
        fs::write(sidecar(out), hash).with_context(|| format!("cannot write {}", sidecar(out)))
    }

    /// The artifact, checked against its pin: the cached copy (re-hashed) or a fresh
    /// download. The caller holds the artifact's lock.
    fn verified(&self, sha256: &str, url: &str, on: &mut dyn FnMut(Event)) -> Result<Verified> {
        let path = self.blob_path(sha256);
        if path.is_file() {
            if sha256_file(&path)? == sha256 {
                on(Event::Cached { path: path.clone() });
                return Ok(Verified::Cached(path));
            }
            // Someone edited the cache; a fresh download replaces it.
            fs::remove_file(&path).with_context(|| format!("cannot remove corrupt {path}"))?;
        }
        if self.opts.offline {
            bail!(
                "not in the cache ({path}) and offline (--offline or CARGO_NET_OFFLINE=true); \
                 run `cargo xtask vendor fetch` while online, or point XTASK_VENDOR_CACHE at a filled cache"
            );
        }
        let (tmp, found) = self.download_verified(url, on)?;
        if found != sha256 {
            let _ = fs::remove_file(&tmp);
            bail!(
                "checksum mismatch: expected sha256 {sha256}, found {found}; nothing was cached \
                 (upstream changed the file, or the pin is wrong: `cargo xtask vendor lock` re-pins)"
            );
        }
        Ok(Verified::Fresh(tmp))
    }

    /// Downloads `url` to a temp file in the cache and hashes it; the caller renames or removes it.
    fn download_verified(
        &self,
        url: &str,
        on: &mut dyn FnMut(Event),
    ) -> Result<(Utf8PathBuf, String)> {
        ensure_curl()?;
        let tmp = self.tmp_path()?;
        on(Event::Downloading {
            url: url.to_owned(),
        });
        let result =
            download(url, &tmp, self.opts.max_bytes, &self.opts.patience()).and_then(|bytes| {
                on(Event::Downloaded {
                    url: url.to_owned(),
                    bytes,
                });
                sha256_file(&tmp)
            });
        match result {
            Ok(hash) => Ok((tmp, hash)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// For `vendor lock` without a checksum file: downloads `up`, hashes it, checks that
    /// its member unpacks, and keeps both in the cache (so the next fetch is free).
    pub fn pin_by_download(&self, up: &Upstream, on: &mut dyn FnMut(Event)) -> Result<String> {
        let url = self.opts.mirrored(&up.url);
        (|| {
            if self.opts.offline {
                bail!("`vendor lock` needs the network, but offline mode is on");
            }
            let (tmp, hash) = self.download_verified(&url, on)?;
            let _lock = self.lock(&hash)?;
            let file_name = url.rsplit('/').next().unwrap_or("binary");
            let out = self.out_path(&hash, up, file_name);
            self.finish(Verified::Fresh(tmp), &hash, up, &out)?;
            Ok(hash)
        })()
        .with_context(|| format!("cannot pin {url}"))
    }

    /// A small text file (a published checksum), not cached.
    pub fn read_text(&self, url: &str) -> Result<String> {
        let url = self.opts.mirrored(url);
        (|| {
            if self.opts.offline {
                bail!("`vendor lock` needs the network, but offline mode is on");
            }
            ensure_curl()?;
            let tmp = self.tmp_path()?;
            let r = download(&url, &tmp, 1 << 20, &self.opts.patience())
                .and_then(|_| fs::read_to_string(&tmp).context("not UTF-8 text"));
            let _ = fs::remove_file(&tmp);
            r
        })()
        .with_context(|| format!("cannot read {url}"))
    }

    fn tmp_path(&self) -> Result<Utf8PathBuf> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir.join("tmp");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create the cache dir {dir}"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = N.fetch_add(1, Ordering::Relaxed);
        Ok(dir.join(format!("{}-{n}-{nanos}.part", std::process::id())))
    }

    /// An exclusive lock on one artifact, held until the file is dropped.
    fn lock(&self, sha256: &str) -> Result<File> {
        let dir = self.dir.join("locks");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create the cache dir {dir}"))?;
        let path = dir.join(format!("{sha256}.lock"));
        let f = File::create(&path).with_context(|| format!("cannot create {path}"))?;
        f.lock().with_context(|| format!("cannot lock {path}"))?;
        Ok(f)
    }
}

/// A download that matched its pin: already in the cache, or still in `tmp/`.
enum Verified {
    Cached(Utf8PathBuf),
    Fresh(Utf8PathBuf),
}

impl Verified {
    fn path(&self) -> &Utf8Path {
        match self {
            Verified::Cached(p) | Verified::Fresh(p) => p,
        }
    }

    /// Drops a fresh download; a cached one stays (it matched its pin).
    fn discard(self) {
        if let Verified::Fresh(tmp) = self {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Where unpacking records the SHA-256 of a file it took out of an archive.
fn sidecar(out: &Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{out}.sha256"))
}

pub fn sha256_file(path: &Utf8Path) -> Result<String> {
    digest::sha256_hex(path)
}

fn make_executable(path: &Utf8Path) -> Result<()> {
    digest::set_mode(path, 0o755)
}

/// The hash for `file_name` in a published checksum file: a bare hex (`kubectl.sha256`),
/// `hex  name` (`helm-...tar.gz.sha256sum`), or `sha256sum` lines for several files
/// (`checksums.txt`), where the line naming `file_name` counts.
pub fn parse_checksum_file(text: &str, file_name: &str) -> Result<String, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut found = None;
    for line in &lines {
        let mut parts = line.split_whitespace();
        let hex = parts.next().unwrap_or("").to_ascii_lowercase();
        let name = parts.next().map(|n| n.trim_start_matches('*'));
        if !digest::is_sha256(&hex) {
            continue;
        }
        match name {
            None if lines.len() == 1 => found = Some(hex),
            Some(n) if n.rsplit('/').next() == Some(file_name) => found = Some(hex),
            Some(_) if lines.len() == 1 => found = Some(hex),
            _ => {}
        }
    }
    found.ok_or_else(|| format!("no SHA-256 for `{file_name}` in the checksum file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_rewrite_the_longest_prefix() {
        let o = FetchOptions {
            mirrors: parse_mirrors("https://dl.k8s.io=http://127.0.0.1:9/k8s,https://dl.k8s.io/release/v1=http://127.0.0.1:9/v1").unwrap(),
            ..FetchOptions::default()
        };
        assert_eq!(
            o.mirrored("https://dl.k8s.io/release/v1.31.2/x"),
            "http://127.0.0.1:9/v1.31.2/x"
        );
        assert_eq!(
            o.mirrored("https://dl.k8s.io/other"),
            "http://127.0.0.1:9/k8s/other"
        );
        assert_eq!(o.mirrored("https://get.helm.sh/h"), "https://get.helm.sh/h");
        assert!(parse_mirrors("https://a").is_err());
    }

    #[test]
    fn checksum_files() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_checksum_file(&format!("{hex}\n"), "kubectl"),
            Ok(hex.clone())
        );
        assert_eq!(
            parse_checksum_file(
                &format!("{hex}  helm-v3-linux-amd64.tar.gz\n"),
                "helm-v3-linux-amd64.tar.gz"
            ),
            Ok(hex.clone())
        );
        let many = format!("{}  a.zip\n{hex} *b.tar.gz\n", "b".repeat(64));
        assert_eq!(parse_checksum_file(&many, "b.tar.gz"), Ok(hex.clone()));
        assert!(parse_checksum_file(&many, "c.zip").is_err());
        assert!(parse_checksum_file("<html>404</html>", "x").is_err());
    }
}
