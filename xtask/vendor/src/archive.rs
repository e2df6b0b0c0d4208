//! Takes one member out of a downloaded archive, for `vendor.toml` entries whose upstream
//! ships an archive (`.tar.gz`, `.tar.xz`, `.tar`, `.zip`) or one compressed file (`.gz`,
//! `.xz`) instead of a bare binary.
//!
//! Called only on files whose SHA-256 already matched the pin, but the archive is still
//! someone else's bytes: every entry is checked, and an archive with an entry that climbs
//! out of its directory (`../x`, `/etc/x`, a symlink pointing outside) is refused whole,
//! as is a member that is a link rather than a regular file. We never write a path taken
//! from the archive: the member goes to a file the caller names.
//!
//! The formats are read by the crates their ecosystems maintain and fuzz: `tar`, `flate2`
//! (miniz_oxide, pure Rust), `zip` (deflate only: no AES, bzip2, zstd or their C) and
//! `lzma-rust2` for xz (pure Rust; README "Dependencies" has the measured alternatives).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// How an upstream artifact is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The binary itself.
    Raw,
    /// The binary, gzip-compressed (no tar inside), e.g. `rust-analyzer-x86_64-unknown-linux-gnu.gz`.
    Gz,
    /// The binary, xz-compressed (no tar inside).
    Xz,
    /// An uncompressed tar: `tar` is already here for `.tar.gz`, so it costs nothing.
    Tar,
    TarGz,
    /// cargo-dist's default for Unix, and shellcheck's format.
    TarXz,
    Zip,
}

/// URL suffixes with a format, longest first so `.tar.gz` wins over `.gz`.
const SUFFIXES: [(&str, Format); 8] = [
    (".tar.gz", Format::TarGz),
    (".tgz", Format::TarGz),
    (".tar.xz", Format::TarXz),
    (".txz", Format::TarXz),
    (".tar", Format::Tar),
    (".zip", Format::Zip),
    (".gz", Format::Gz),
    (".xz", Format::Xz),
];

/// Archive and compression suffixes seen on release assets that we do not unpack: a URL
/// ending so is an error, never a "raw" binary (which would be staged as the archive's
/// bytes and fail later with a misleading loadability message).
const REFUSED: [&str; 20] = [
    ".tar.zst",
    ".tzst",
    ".zst",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".bz2",
    ".tar.lz",
    ".lz",
    ".tar.lzma",
    ".lzma",
    ".tar.z",
    ".z",
    ".7z",
    ".rar",
    ".deb",
    ".rpm",
    ".dmg",
    ".pkg",
    ".msi",
];

impl Format {
    /// What `format = "..."` accepts, and what an unsupported suffix is told.
    pub const NAMES: &'static str = "raw, gz, xz, tar, tar.gz (or tgz), tar.xz (or txz), zip";

    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Gz => "gz",
            Format::Xz => "xz",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::TarXz => "tar.xz",
            Format::Zip => "zip",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "raw" => Some(Format::Raw),
            "tgz" => Some(Format::TarGz),
            "txz" => Some(Format::TarXz),
            _ => SUFFIXES
                .iter()
                .find(|(suffix, _)| &suffix[1..] == s)
                .map(|&(_, f)| f),
        }
    }

    /// The format a URL's file name implies. "Raw" only for a binary's own file name: no
    /// extension (`kubectl`, `jq-linux-amd64`, `tool-1.2.3`), `.exe`, or `name` itself
    /// (`name{exe}`). Anything else that looks like a file type (`.zst`, `.AppImage`,
    /// `.amd64`) is an error listing what is supported; `format = "raw"` says otherwise.
    pub fn from_url(url: &str, name: &str) -> Result<Format, String> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let file = path.rsplit('/').next().unwrap_or(path);
        let lower = file.to_ascii_lowercase();
        if let Some(&(_, f)) = SUFFIXES.iter().find(|(s, _)| lower.ends_with(s)) {
            return Ok(f);
        }
        let unsupported = |ext: &str| {
            format!(
                "`{file}`: `{ext}` files are not supported (supported: {}; a binary's own name \
                 has no extension, or `.exe`)",
                Format::NAMES
            )
        };
        if let Some(ext) = REFUSED.iter().find(|s| lower.ends_with(*s)) {
            return Err(unsupported(ext));
        }
        // ASCII lowercasing keeps byte offsets, so `stem` can be cut from `file` as written.
        let stem = &file[..lower.strip_suffix(".exe").unwrap_or(&lower).len()];
        if stem.eq_ignore_ascii_case(name) {
            return Ok(Format::Raw);
        }
        match stem.rsplit_once('.') {
            // A dot inside a version (`tool-1.2.3`, `mkcert-v1.4.4-linux-amd64`) or a
            // platform (`x86_64`) is not an extension; one starting with a letter is.
            Some((_, ext))
                if ext.starts_with(|c: char| c.is_ascii_alphabetic())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Err(unsupported(&format!(".{ext}")))
            }
            _ => Ok(Format::Raw),
        }
    }

    /// Whether entries have names, i.e. a `member` must say which one is the binary.
    pub fn has_members(self) -> bool {
        matches!(
            self,
            Format::Tar | Format::TarGz | Format::TarXz | Format::Zip
        )
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
    let input = BufReader::new(
        File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?,
    );
    let member = || member.context("this archive format needs a `member`");
    match format {
        Format::Raw => {
            copy_limited(&mut { input }, &mut out, limit, "the file")?;
        }
        Format::Gz => {
            let mut gz = flate2::read::GzDecoder::new(input);
            copy_limited(&mut gz, &mut out, limit, "the .gz")
                .context("cannot decompress the .gz")?;
        }
        Format::Xz => {
            copy_limited(&mut xz(input), &mut out, limit, "the .xz")
                .context("cannot decompress the .xz")?;
        }
        Format::Tar => tar(input, format, member()?, &mut out, limit)?,
        Format::TarGz => tar(
            flate2::read::GzDecoder::new(input),
            format,
            member()?,
            &mut out,
            limit,
        )?,
        Format::TarXz => tar(xz(input), format, member()?, &mut out, limit)?,
        Format::Zip => zip(input, member()?, &mut out, limit)?,
    }
    out.sync_all()?;
    Ok(())
}

/// An xz stream's content. Several concatenated streams are one file, as `xz -d` reads them.
fn xz(input: impl Read) -> impl Read {
    lzma_rust2::XzReader::new(input, true)
}

fn tar(input: impl Read, format: Format, member: &str, out: &mut File, limit: u64) -> Result<()> {
    let what = format.name();
    let mut tar = tar::Archive::new(input);
    let mut found = false;
    let mut names = Vec::new();
    for entry in tar
        .entries()
        .with_context(|| format!("not a {what} archive"))?
    {
        let mut entry = entry.with_context(|| format!("the {what} archive is corrupt"))?;
        // A name that is not UTF-8 can never equal `member`; it is still checked for `..`.
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
        )
        .with_context(|| format!("cannot unpack archive member `{member}`"))?;
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

/// The `zip` crate finds the end record (ZIP64 included), decodes names (UTF-8 when the
/// entry says so, else CP437, or its Unicode Path field) and checks each member's CRC-32
/// as it reads; the checks on every entry's path and on the member are ours.
fn zip(input: BufReader<File>, member: &str, out: &mut File, limit: u64) -> Result<()> {
    let mut zip = zip::ZipArchive::new(input).context("not a readable zip archive")?;
    let mut chosen = None;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        // `by_index_raw` reads the directory record only: nothing is decompressed yet.
        let e = zip
            .by_index_raw(i)
            .context("the zip archive's central directory is corrupt")?;
        let name = normalize(e.name()).map_err(|err| anyhow::anyhow!("archive entry {err}"))?;
        if e.is_dir() {
            continue;
        }
        if name == member {
            if chosen.is_some() {
                bail!("archive member `{member}` appears twice");
            }
            chosen = Some(i);
        } else if names.len() < 20 {
            names.push(e.name().to_owned());
        }
    }
    let Some(i) = chosen else {
        bail!("{}", missing(member, &names));
    };
    let e = zip.by_index_raw(i)?;
    if e.is_symlink() {
        bail!("archive member `{member}` is a symlink, not a file; name the file it points to as `member`");
    }
    if e.encrypted() {
        bail!("archive member `{member}` is encrypted");
    }
    // Sizes from the ZIP64 extra field when the 32-bit ones say 0xFFFFFFFF.
    if e.size() > limit {
        bail!(
            "archive member `{member}` is {} bytes, more than the limit of {limit}",
            e.size()
        );
    }
    let method = e.compression();
    if !matches!(
        method,
        zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
    ) {
        bail!("archive member `{member}` uses compression method {method}; only stored and deflate are supported");
    }
    let size = e.size();
    drop(e);
    let mut reader = zip
        .by_index(i)
        .with_context(|| format!("cannot read archive member `{member}`"))?;
    let n = copy_limited(
        &mut reader,
        out,
        limit,
        &format!("archive member `{member}`"),
    )
    .with_context(|| format!("cannot decompress archive member `{member}`"))?;
    // The crate fails the read on a CRC-32 mismatch; a short member is caught here.
    if n != size {
        bail!("archive member `{member}` is corrupt (its size differs from the zip's directory)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_urls() {
        let f = |u| Format::from_url(u, "tool");
        assert_eq!(f("https://x/helm-v3-linux-amd64.tar.gz"), Ok(Format::TarGz));
        assert_eq!(f("https://x/a.tgz?raw=1"), Ok(Format::TarGz));
        assert_eq!(f("https://x/helm-v3-windows-amd64.zip"), Ok(Format::Zip));
        assert_eq!(
            f("https://x/ra-x86_64-unknown-linux-gnu.gz"),
            Ok(Format::Gz)
        );
        assert_eq!(f("https://x/bin/linux/amd64/kubectl"), Ok(Format::Raw));
        assert_eq!(f("https://x/kubectl.exe"), Ok(Format::Raw));
        assert_eq!(
            f("https://x/sc-v0.10.0.linux.x86_64.tar.xz"),
            Ok(Format::TarXz)
        );
        assert_eq!(f("https://x/a.TXZ"), Ok(Format::TarXz));
        assert_eq!(f("https://x/a.tar"), Ok(Format::Tar));
        assert_eq!(f("https://x/a.xz"), Ok(Format::Xz));
        // Raw: no extension, dots of a version or a platform, `.exe`, the binary's name.
        assert_eq!(f("https://x/jq-linux-amd64"), Ok(Format::Raw));
        assert_eq!(f("https://x/kubectl-1.31.2"), Ok(Format::Raw));
        assert_eq!(
            f("https://x/mkcert-v1.4.4-linux-amd64.exe"),
            Ok(Format::Raw)
        );
        assert_eq!(f("https://x/tool.linux.x86_64"), Ok(Format::Raw));
        assert_eq!(
            Format::from_url("https://x/k.v2.exe", "k.v2"),
            Ok(Format::Raw)
        );
        for (url, ext) in [
            ("https://x/a.tar.zst", ".tar.zst"),
            ("https://x/a.zst", ".zst"),
            ("https://x/a.tbz2", ".tbz2"),
            ("https://x/a.tar.bz2", ".tar.bz2"),
            ("https://x/a.7z?x=1", ".7z"),
            ("https://x/tool.AppImage", ".AppImage"),
            ("https://x/tool-1.0.linux.amd64", ".amd64"),
        ] {
            let e = f(url).unwrap_err();
            assert!(
                e.contains(&format!(
                    "`{ext}` files are not supported (supported: {}",
                    Format::NAMES
                )),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn format_names_round_trip() {
        for f in [
            Format::Raw,
            Format::Gz,
            Format::Xz,
            Format::Tar,
            Format::TarGz,
            Format::TarXz,
            Format::Zip,
        ] {
            assert_eq!(Format::parse(f.name()), Some(f));
            assert!(Format::NAMES.contains(f.name()));
        }
        assert_eq!(Format::parse("tgz"), Some(Format::TarGz));
        assert_eq!(Format::parse("txz"), Some(Format::TarXz));
        assert_eq!(Format::parse("zst"), None);
        assert_eq!(Format::parse(".zip"), None);
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
