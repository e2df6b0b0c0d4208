//! Walking trees, hashing files, file modes and `SHA256SUMS`: the one home of each, for
//! staging, fingerprints, the UI's stamps and verification alike.

use std::collections::BTreeMap;
use std::fs;
use std::time::SystemTime;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

/// The checksum list staged beside the binaries of each variant.
pub const CHECKSUMS: &str = "SHA256SUMS";

/// The incremental SHA-256 behind every digest here.
/// The incremental SHA-256 behind every digest here: sha2, which uses the CPU's SHA
/// instructions where there are some (about 1.7 GB/s against 0.3 GB/s in plain Rust:
/// vendored binaries are hashed on every fetch check, stage and verify).
#[derive(Default)]
pub struct Hasher(sha2::Sha256);

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    pub fn finalize(self) -> [u8; 32] {
        sha2::Digest::finalize(self.0).into()
    }
}

/// Lowercase hex of `bytes`.
/// A SHA-256 digest as this tool writes and accepts it: 64 lowercase hex digits (image
/// digests after `sha256:`, vendor.toml's pins, `SHA256SUMS`, checksum files).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_bytes_hex(bytes: &[u8]) -> String {
    {
        let mut h = Hasher::new();
        h.update(bytes);
        hex(&h.finalize())
    }
}

/// Hex SHA-256 of a file's bytes, read in chunks (vendored downloads can be large).
pub fn sha256_hex(path: &Utf8Path) -> Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let mut h = Hasher::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {path}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(finish(h))
}

/// Hex digest of a finished hasher.
pub fn finish(h: Hasher) -> String {
    hex(&h.finalize())
}

/// Every file below `dir`, sorted, so any order (and any error) is deterministic.
pub fn walk_files(dir: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in d
            .read_dir_utf8()
            .with_context(|| format!("cannot list {d}"))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path().to_owned());
            } else {
                out.push(entry.path().to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `dir` and every directory below it, parents before children.
pub fn walk_dirs(dir: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut dirs = vec![dir.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        for entry in dirs[i]
            .read_dir_utf8()
            .with_context(|| format!("cannot list {}", dirs[i]))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path().to_owned());
            }
        }
        i += 1;
    }
    Ok(dirs)
}

/// SHA-256 over each file's path (relative to `root`, so a moved checkout keeps its
/// stamps), length and bytes.
pub fn hash_files(root: &Utf8Path, files: &[Utf8PathBuf]) -> Result<String> {
    let mut h = Hasher::new();
    for f in files {
        let bytes = fs::read(f).with_context(|| format!("cannot read {f}"))?;
        let rel = f.strip_prefix(root).unwrap_or(f);
        h.update(rel.as_str().as_bytes());
        h.update(&[0]);
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(finish(h))
}

/// One digest of a tree: every file's path, mode, mtime and bytes, all of which go into
/// an image layer. Equal digests mean equal layers.
pub fn tree_digest(root: &Utf8Path) -> Result<String> {
    let mut h = Hasher::new();
    for file in walk_files(root)? {
        let rel = file.strip_prefix(root).expect("walk stays below root");
        let mtime = fs::metadata(&file)?
            .modified()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        h.update(rel.as_str().as_bytes());
        h.update(format!("\0{:o}\0{mtime}\0", mode(&file).unwrap_or(0)).as_bytes());
        h.update(&fs::read(&file).with_context(|| format!("cannot read {file}"))?);
    }
    Ok(finish(h))
}

/// A file's permission bits; `None` where the file system has no unix modes (Windows),
/// so a check on them cannot be made there.
#[cfg(unix)]
pub fn mode(path: &Utf8Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
pub fn mode(_: &Utf8Path) -> Option<u32> {
    None
}

#[cfg(unix)]
pub fn set_mode(path: &Utf8Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {path}"))
}

/// Nothing to set where the file system has no unix modes. The image is still right: a
/// BuildKit client on Windows sends every file of the build context with mode 0755
/// (tonistiigi/fsutil `mkstat`: "make everything +x from windows", then `& 0755`), so
/// the staged binaries are executable in the image, as verify wants. (So are
/// metadata.json and the UI there, 0755 instead of the 0644 a Linux or Mac host stages:
/// the image from a Windows host is not byte-identical to theirs.)
#[cfg(not(unix))]
pub fn set_mode(_: &Utf8Path, _: u32) -> Result<()> {
    Ok(())
}

/// Relative path -> hex SHA-256, as `sha256sum` writes and reads them.
pub type Sums = BTreeMap<String, String>;

/// `SHA256SUMS` text: `<hex>  <path>` per line, sorted by path.
pub fn format_sums(sums: &Sums) -> String {
    sums.iter().map(|(p, h)| format!("{h}  {p}\n")).collect()
}

pub fn parse_sums(text: &str) -> Sums {
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(hash, p)| (p.to_owned(), hash.to_owned()))
        .collect()
}

/// A `SHA256SUMS` file, or `None` when it cannot be read.
pub fn read_sums(path: &Utf8Path) -> Option<Sums> {
    fs::read_to_string(path).ok().map(|t| parse_sums(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_hex() {
        assert_eq!(
            sha256_bytes_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn sums_round_trip() {
        let sums: Sums = [
            ("linux/host-bin".to_owned(), "aa".to_owned()),
            ("darwin/host-bin".to_owned(), "bb".to_owned()),
        ]
        .into();
        let text = format_sums(&sums);
        assert_eq!(text, "bb  darwin/host-bin\naa  linux/host-bin\n");
        assert_eq!(parse_sums(&text), sums);
    }
}
