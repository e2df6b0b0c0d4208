//! Takes one member out of a downloaded archive, for `vendor.toml` entries whose upstream
//! ships a `.tar.gz`, `.zip` or `.gz` instead of a bare binary.
//!
//! Called only on files whose SHA-256 already matched the pin, but the archive is still
//! someone else's bytes: every entry is checked, and an archive with an entry that climbs
//! out of its directory (`../x`, `/etc/x`, a symlink pointing outside) is refused whole,
//! as is a member that is a link rather than a regular file. We never write a path taken
//! from the archive: the member goes to a file the caller names.
//!
//! ZIP is read here rather than with the `zip` crate: central directory, stored or deflate,
//! CRC-32 checked, about 150 lines. `zip` with only `deflate-flate2` still pulls
//! `zeroize_derive`, that is a second `syn` major next to the tree's, about 20 s of cold
//! build for what a release archive needs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// How an upstream artifact is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The binary itself.
    Raw,
    /// The binary, gzip-compressed (no tar inside), e.g. `rust-analyzer-x86_64-unknown-linux-gnu.gz`.
    Gz,
    TarGz,
    Zip,
}

impl Format {
    pub const NAMES: &'static str = "raw, gz, tar.gz (or tgz), zip";

    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Gz => "gz",
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "raw" => Some(Format::Raw),
            "gz" => Some(Format::Gz),
            "tar.gz" | "tgz" => Some(Format::TarGz),
            "zip" => Some(Format::Zip),
            _ => None,
        }
    }

    /// The format a URL's file name implies; `Err` names a known but unsupported one, so
    /// `.tar.xz` is an error instead of being staged as if it were the binary.
    pub fn from_url(url: &str) -> Result<Format, String> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let file = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        for ext in [
            ".tar.xz", ".txz", ".tar.bz2", ".tbz", ".tar.zst", ".7z", ".xz", ".bz2",
        ] {
            if file.ends_with(ext) {
                return Err(format!(
                    "`{ext}` archives are not supported (supported: {})",
                    Format::NAMES
                ));
            }
        }
        Ok(if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
            Format::TarGz
        } else if file.ends_with(".zip") {
            Format::Zip
        } else if file.ends_with(".gz") {
            Format::Gz
        } else {
            Format::Raw
        })
    }

    /// Whether entries have names, i.e. a `member` must say which one is the binary.
    pub fn has_members(self) -> bool {
        matches!(self, Format::TarGz | Format::Zip)
    }
}

/// The `/`-separated components of an archive path, or `Err` when it is absolute or climbs
/// with `..`. `./` and repeated slashes are dropped; `\` counts as a separator (zips
/// written on Windows use it) and a drive letter (`C:`) as absolute.
pub fn normalize(path: &str) -> Result<String, String> {
    let unix = path.replace('\\', "/");
    if unix.starts_with('/') || unix.as_bytes().get(1) == Some(&b':') {
        return Err(format!("`{path}` is an absolute path"));
    }
    let mut parts = Vec::new();
    for part in unix.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("`{path}` climbs out of the directory with `..`")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!("`{path}` names no file"));
    }
    Ok(parts.join("/"))
}

/// Whether a symlink at `entry` pointing to `target` stays inside the archive's directory.
fn link_stays_inside(entry: &str, target: &str) -> bool {
    let target = target.replace('\\', "/");
    if target.starts_with('/') || target.as_bytes().get(1) == Some(&b':') {
        return false;
    }
    // Depth of the directory holding the link, then walk the target from there.
    let mut depth = entry
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .count() as i64
        - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Copies at most `limit` bytes, failing beyond it: a small archive can inflate to any size.
fn copy_limited(from: &mut dyn Read, to: &mut dyn Write, limit: u64, what: &str) -> Result<u64> {
    let n = io::copy(&mut from.take(limit + 1), to)?;
    if n > limit {
        bail!("{what} inflates to more than the limit of {limit} bytes");
    }
    Ok(n)
}

/// Writes `member` (a normalized path, see [`normalize`]) of `archive` to `dest`.
pub fn extract(
    archive: &Path,
    format: Format,
    member: Option<&str>,
    dest: &Path,
    limit: u64,
) -> Result<()> {
    let mut out =
        File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut input =
        File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let member = || member.context("this archive format needs a `member`");
    match format {
        Format::Raw => {
            copy_limited(&mut input, &mut out, limit, "the file")?;
        }
        Format::Gz => {
            let mut gz = flate2::read::GzDecoder::new(io::BufReader::new(input));
            copy_limited(&mut gz, &mut out, limit, "the .gz")
                .context("cannot decompress the .gz")?;
        }
        Format::TarGz => tar_gz(input, member()?, &mut out, limit)?,
        Format::Zip => zip(&mut input, member()?, &mut out, limit)?,
    }
    out.sync_all()?;
    Ok(())
}

fn tar_gz(input: File, member: &str, out: &mut File, limit: u64) -> Result<()> {
    let gz = flate2::read::GzDecoder::new(io::BufReader::new(input));
    let mut tar = tar::Archive::new(gz);
    let mut found = false;
    let mut names = Vec::new();
    for entry in tar.entries().context("not a tar.gz archive")? {
        let mut entry = entry.context("the tar.gz archive is corrupt")?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize(&raw).map_err(|e| anyhow::anyhow!("archive entry {e}"))?;
        let kind = entry.header().entry_type();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        if kind.is_symlink() {
            let target = link.as_deref().unwrap_or("");
            if !link_stays_inside(&name, target) {
                bail!("archive entry `{raw}` is a symlink to `{target}`, outside the archive's directory");
            }
        }
        if kind.is_hard_link() {
            if let Some(target) = &link {
                normalize(target)
                    .map_err(|e| anyhow::anyhow!("archive entry `{raw}` is a hard link to {e}"))?;
            }
        }
        if name != member {
            if names.len() < 20 && !kind.is_dir() {
                names.push(name);
            }
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            bail!(
                "archive member `{member}` is a link (to `{}`), not a file; name the file it points to as `member`",
                link.unwrap_or_default()
            );
        }
        if !kind.is_file() {
            bail!("archive member `{member}` is not a regular file");
        }
        if found {
            bail!("archive member `{member}` appears twice");
        }
        copy_limited(
            &mut entry,
            out,
            limit,
            &format!("archive member `{member}`"),
        )?;
        found = true;
    }
    if !found {
        bail!("{}", missing(member, &names));
    }
    Ok(())
}

fn missing(member: &str, names: &[String]) -> String {
    format!(
        "archive has no member `{member}`; it holds: {}",
        if names.is_empty() {
            "no files".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// One central-directory record of a zip.
struct ZipEntry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
    is_symlink: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn zip_entries(f: &mut File) -> Result<Vec<ZipEntry>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let len = f.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65535);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0; tail_len as usize];
    f.read_exact(&mut tail)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| &tail[i..i + 4] == EOCD)
        .context("not a zip archive (no end-of-central-directory record)")?;
    let eocd = &tail[at..];
    let (count, cd_size, cd_offset) = (u16_at(eocd, 10), u32_at(eocd, 12), u32_at(eocd, 16));
    if count == 0xFFFF || cd_size == u32::MAX || cd_offset == u32::MAX {
        bail!("ZIP64 archives are not supported");
    }
    if u64::from(cd_offset) + u64::from(cd_size) > len {
        bail!("the zip archive is truncated (central directory past its end)");
    }
    f.seek(SeekFrom::Start(cd_offset.into()))?;
    let mut cd = vec![0; cd_size as usize];
    f.read_exact(&mut cd)?;
    let mut entries = Vec::new();
    let mut p = 0;
    for _ in 0..count {
        if p + 46 > cd.len() || &cd[p..p + 4] != b"PK\x01\x02" {
            bail!("the zip archive's central directory is corrupt");
        }
        let h = &cd[p..];
        let (n, e, c) = (
            u16_at(h, 28) as usize,
            u16_at(h, 30) as usize,
            u16_at(h, 32) as usize,
        );
        if 46 + n + e + c > h.len() {
            bail!("the zip archive's central directory is corrupt");
        }
        let made_by_unix = u16_at(h, 4) >> 8 == 3;
        let mode = u32_at(h, 38) >> 16;
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(&h[46..46 + n]).into_owned(),
            flags: u16_at(h, 8),
            method: u16_at(h, 10),
            crc: u32_at(h, 16),
            compressed: u32_at(h, 20).into(),
            size: u32_at(h, 24).into(),
            local_offset: u32_at(h, 42).into(),
            is_symlink: made_by_unix && mode & 0o170000 == 0o120000,
        });
        p += 46 + n + e + c;
    }
    Ok(entries)
}

fn zip(f: &mut File, member: &str, out: &mut File, limit: u64) -> Result<()> {
    let entries = zip_entries(f)?;
    let mut chosen = None;
    for e in &entries {
        let name = normalize(&e.name).map_err(|err| anyhow::anyhow!("archive entry {err}"))?;
        if name == member && !e.name.ends_with('/') {
            if chosen.is_some() {
                bail!("archive member `{member}` appears twice");
            }
            chosen = Some(e);
        }
    }
    let Some(e) = chosen else {
        let names: Vec<String> = entries
            .iter()
            .filter(|e| !e.name.ends_with('/'))
            .take(20)
            .map(|e| e.name.clone())
            .collect();
        bail!("{}", missing(member, &names));
    };
    if e.is_symlink {
        bail!("archive member `{member}` is a symlink, not a file; name the file it points to as `member`");
    }
    if e.flags & 1 != 0 {
        bail!("archive member `{member}` is encrypted");
    }
    if e.size > limit {
        bail!(
            "archive member `{member}` is {} bytes, more than the limit of {limit}",
            e.size
        );
    }
    f.seek(SeekFrom::Start(e.local_offset))?;
    let mut local = [0u8; 30];
    f.read_exact(&mut local)
        .context("the zip archive is truncated")?;
    if &local[..4] != b"PK\x03\x04" {
        bail!("the zip archive is corrupt (no local header for `{member}`)");
    }
    let skip = u16_at(&local, 26) as i64 + u16_at(&local, 28) as i64;
    f.seek(SeekFrom::Current(skip))?;
    let data = (&mut *f).take(e.compressed);
    let mut reader: Box<dyn Read + '_> = match e.method {
        0 => Box::new(data),
        8 => Box::new(flate2::read::DeflateDecoder::new(data)),
        m => bail!("archive member `{member}` uses compression method {m}; only stored (0) and deflate (8) are supported"),
    };
    let mut crc = CrcWriter {
        out,
        crc: flate2::Crc::new(),
    };
    let n = copy_limited(
        &mut reader,
        &mut crc,
        limit,
        &format!("archive member `{member}`"),
    )
    .with_context(|| format!("cannot decompress archive member `{member}`"))?;
    if n != e.size || crc.crc.sum() != e.crc {
        bail!("archive member `{member}` is corrupt (size or CRC-32 differs from the zip's directory)");
    }
    Ok(())
}

struct CrcWriter<'a> {
    out: &'a mut File,
    crc: flate2::Crc,
}

impl Write for CrcWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_urls() {
        let f = |u| Format::from_url(u);
        assert_eq!(f("https://x/helm-v3-linux-amd64.tar.gz"), Ok(Format::TarGz));
        assert_eq!(f("https://x/a.tgz?raw=1"), Ok(Format::TarGz));
        assert_eq!(f("https://x/helm-v3-windows-amd64.zip"), Ok(Format::Zip));
        assert_eq!(
            f("https://x/ra-x86_64-unknown-linux-gnu.gz"),
            Ok(Format::Gz)
        );
        assert_eq!(f("https://x/bin/linux/amd64/kubectl"), Ok(Format::Raw));
        assert_eq!(f("https://x/kubectl.exe"), Ok(Format::Raw));
        assert!(f("https://x/a.tar.xz")
            .unwrap_err()
            .contains("`.tar.xz` archives are not supported"));
    }

    #[test]
    fn paths_are_normalized_or_refused() {
        assert_eq!(
            normalize("./linux-amd64//helm").unwrap(),
            "linux-amd64/helm"
        );
        assert_eq!(
            normalize("windows-amd64\\helm.exe").unwrap(),
            "windows-amd64/helm.exe"
        );
        assert!(normalize("../helm").unwrap_err().contains("climbs out"));
        assert!(normalize("a/../../helm")
            .unwrap_err()
            .contains("climbs out"));
        assert!(normalize("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(normalize("C:/x").unwrap_err().contains("absolute"));
        assert!(normalize("./").unwrap_err().contains("names no file"));
    }

    #[test]
    fn symlink_targets() {
        assert!(link_stays_inside("bin/tool", "tool-1.2"));
        assert!(link_stays_inside("a/b/tool", "../c/tool"));
        assert!(!link_stays_inside("bin/tool", "../../etc/passwd"));
        assert!(!link_stays_inside("tool", "../x"));
        assert!(!link_stays_inside("tool", "/usr/bin/x"));
    }
}
