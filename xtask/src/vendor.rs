//! `extension/vendor.toml`: third-party host binaries (kubectl, helm, ...) that the image
//! ships next to the workspace's own, each pinned by SHA-256 per OS-ARCH.
//!
//! A table per binary; its name is the file name `metadata.json` uses (`kubectl` for
//! `/darwin/kubectl`, `/windows/kubectl.exe`, `/linux/kubectl`):
//!
//! ```toml
//! [helm]
//! version = "3.16.3"
//! url = "https://get.helm.sh/helm-v{version}-{os}-{arch}.tar.gz"
//! member = "{os}-{arch}/helm{exe}"            # the file inside the archive
//! checksum_url = "{url}.sha256sum"            # what `vendor lock` reads instead of downloading
//! smoke = ["version", "--short"]              # for a later smoke run
//! smoke_expect = "v{version}"
//! [helm.windows]                              # per-OS (or per OS-ARCH) override
//! url = "https://get.helm.sh/helm-v{version}-{os}-{arch}.zip"
//! [helm.replacements]                         # upstream's names for {os} / {arch}
//! # darwin = "macOS"
//! [helm.fallback]                             # a platform with no upstream build, said aloud
//! # windows-arm64 = "windows-amd64"
//! [helm.sha256]
//! linux-amd64 = "..."
//! ```
//!
//! The ideas come from aqua (`replacements`, `overrides`, `format`), mise's lock file (one
//! checksum per platform, filled by a command), cargo-binstall (templated URL and member)
//! and Bazel's `http_archive` (sha256 first, then extract). This module only reads and
//! checks: `vendor_fetch` downloads, `vendor_lock` writes pins. It depends on nothing else
//! in the crate, so the caller maps its own target table onto [`Platform`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use toml_edit::{DocumentMut, Item, TableLike};

use crate::vendor_archive::{self, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Os {
    // Alphabetical, so sorted platforms read as pin keys do.
    Darwin,
    Linux,
    Windows,
}

impl Os {
    pub const ALL: [Os; 3] = [Os::Darwin, Os::Linux, Os::Windows];

    /// The name in `metadata.json`, in pin keys and in `{os}`.
    pub fn name(self) -> &'static str {
        match self {
            Os::Darwin => "darwin",
            Os::Windows => "windows",
            Os::Linux => "linux",
        }
    }

    pub fn parse(s: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|os| os.name() == s)
    }

    pub fn exe(self) -> &'static str {
        if self == Os::Windows {
            ".exe"
        } else {
            ""
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Docker's name (`TARGETARCH`), and `{arch}`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// An OS-ARCH pair, written `darwin-arm64` as in `[NAME.sha256]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: Os,
    pub arch: Arch,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::new(Os::Darwin, Arch::Amd64),
        Platform::new(Os::Darwin, Arch::Arm64),
        Platform::new(Os::Linux, Arch::Amd64),
        Platform::new(Os::Linux, Arch::Arm64),
        Platform::new(Os::Windows, Arch::Amd64),
        Platform::new(Os::Windows, Arch::Arm64),
    ];

    pub const fn new(os: Os, arch: Arch) -> Platform {
        Platform { os, arch }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        let (os, arch) = s.split_once('-')?;
        Some(Platform::new(Os::parse(os)?, Arch::parse(arch)?))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os.name(), self.arch.name())
    }
}

/// Where one platform's build comes from, before it is pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: String,
    pub format: Format,
    /// Normalized path inside the archive; `Some` exactly when `format.has_members()`.
    pub member: Option<String>,
    /// The checksum file upstream publishes for `url`, if the manifest names one.
    pub checksum_url: Option<String>,
    /// The platform whose build this is: differs from the requested one under a fallback.
    pub built_for: Platform,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smoke {
    pub args: Vec<String>,
    /// A substring the output must contain (placeholders filled), if any.
    pub expect: Option<String>,
}

/// One binary for one platform: what to download, its pin, how to stage it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The table name, i.e. the staged file name without `.exe`.
    pub name: String,
    pub platform: Platform,
    pub version: String,
    pub upstream: Upstream,
    /// 64 lowercase hex digits.
    pub sha256: String,
    pub smoke: Option<Smoke>,
}

impl Artifact {
    /// The staged file name: `kubectl`, or `kubectl.exe` on Windows.
    pub fn file_name(&self) -> String {
        format!("{}{}", self.name, self.platform.os.exe())
    }

    /// Set when this platform ships another platform's build; the caller prints it, and
    /// `verify` must expect that build's CPU.
    pub fn fallback_note(&self) -> Option<String> {
        let src = self.upstream.built_for;
        (src != self.platform).then(|| {
            format!(
                "{} for {} is the {src} build (fallback in vendor.toml: upstream has no {} build{})",
                self.name,
                self.platform,
                self.platform,
                match self.platform.os {
                    Os::Windows => "; Windows on ARM runs it under emulation",
                    Os::Darwin => "; Apple silicon runs it under Rosetta 2, if installed",
                    Os::Linux => "",
                }
            )
        })
    }
}

/// The fields an override table may change.
#[derive(Debug, Clone, Default)]
struct Source {
    url: Option<String>,
    format: Option<Format>,
    member: Option<String>,
    checksum_url: Option<String>,
    replacements: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct Entry {
    version: String,
    base: Source,
    /// Keyed by `windows` or `windows-arm64`; the OS-ARCH one wins.
    overrides: BTreeMap<String, Source>,
    sha256: BTreeMap<Platform, String>,
    fallback: BTreeMap<Platform, Platform>,
    smoke: Option<Vec<String>>,
    smoke_expect: Option<String>,
}

/// A parsed `vendor.toml`. Every error names the file and the key (`kubectl.sha256.linux-arm64`).
#[derive(Debug, Clone)]
pub struct Manifest {
    path: Utf8PathBuf,
    /// In file order.
    entries: Vec<(String, Entry)>,
}

const ENTRY_KEYS: &[&str] = &[
    "version",
    "url",
    "format",
    "member",
    "checksum_url",
    "replacements",
    "sha256",
    "fallback",
    "smoke",
    "smoke_expect",
];
const OVERRIDE_KEYS: &[&str] = &["url", "format", "member", "checksum_url", "replacements"];
const PLACEHOLDERS: &[&str] = &["name", "version", "os", "arch", "exe"];

impl Manifest {
    pub fn load(path: &Utf8Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        Manifest::parse(path, &text)
    }

    /// Parses and checks everything the file can tell on its own; all problems at once.
    pub fn parse(path: &Utf8Path, text: &str) -> Result<Manifest> {
        let doc: DocumentMut = text
            .parse()
            .map_err(|e| anyhow::anyhow!("{path}: not valid TOML: {e}"))?;
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for (name, item) in doc.iter() {
            let mut p = Problems {
                path,
                list: &mut problems,
            };
            let Some(table) = item.as_table_like() else {
                p.at(name, "must be a table (`[name]`), one per binary");
                continue;
            };
            if let Some(e) = parse_entry(&mut p, name, table) {
                entries.push((name.to_owned(), e));
            }
        }
        let manifest = Manifest {
            path: path.to_owned(),
            entries,
        };
        // Render every pinned platform, so template and .exe mistakes show before a download.
        for (name, e) in &manifest.entries {
            let pinned = e.sha256.keys().chain(e.fallback.keys());
            for &platform in pinned {
                if let Err(err) = manifest.locate(name, platform) {
                    problems.push(format!("{err:#}"));
                }
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("\n"));
        }
        Ok(manifest)
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Table names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    pub fn version(&self, name: &str) -> Option<&str> {
        self.entry(name).ok().map(|e| e.version.as_str())
    }

    /// The platforms pinned for `name`, and those its fallbacks cover.
    pub fn platforms(&self, name: &str) -> BTreeSet<Platform> {
        self.entry(name)
            .map(|e| e.sha256.keys().chain(e.fallback.keys()).copied().collect())
            .unwrap_or_default()
    }

    /// The pin for `name` on `platform` as written (a fallback platform has none of its own).
    pub fn pin(&self, name: &str, platform: Platform) -> Option<&str> {
        self.entry(name)
            .ok()?
            .sha256
            .get(&platform)
            .map(String::as_str)
    }

    /// The fallback's source platform for `platform`, if `name` declares one.
    pub fn fallback(&self, name: &str, platform: Platform) -> Option<Platform> {
        self.entry(name).ok()?.fallback.get(&platform).copied()
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, e)) => Ok(e),
            None => bail!("{}: no [{name}] table", self.path),
        }
    }

    /// Cross-checks against what the extension ships, before anything downloads.
    /// `needed`: each vendored file `metadata.json` names, as its file name there
    /// (`kubectl`, `kubectl.exe` under windows) with each platform that ships it;
    /// `workspace_bins`: the binaries the workspace builds itself.
    pub fn check(
        &self,
        needed: &[(&str, Platform)],
        workspace_bins: &BTreeSet<String>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let path = &self.path;
        for name in self.names() {
            if workspace_bins.contains(name) {
                problems.push(format!(
                    "{path}: [{name}]: `{name}` is also a binary the workspace builds; \
                     one of them would overwrite the other in the image (rename or remove one)"
                ));
            }
        }
        for &(file, platform) in needed {
            let name = match (platform.os, file.strip_suffix(".exe")) {
                (Os::Windows, Some(stem)) => stem,
                (Os::Windows, None) => {
                    problems.push(format!(
                        "metadata.json: /windows/{file} has no .exe; Windows runs only .exe files \
                         (name it /windows/{file}.exe)"
                    ));
                    file
                }
                _ => file,
            };
            let Ok(e) = self.entry(name) else {
                problems.push(format!(
                    "{path}: no [{name}] table, but metadata.json ships /{}/{file}",
                    platform.os.name()
                ));
                continue;
            };
            let source = e.fallback.get(&platform).copied().unwrap_or(platform);
            if !e.sha256.contains_key(&source) {
                let via = if source == platform {
                    String::new()
                } else {
                    format!(" (the fallback for {platform})")
                };
                problems.push(format!(
                    "{path}: {name}.sha256.{source}{via}: missing, but metadata.json ships /{}/{file} \
                     to {platform}; run `cargo xtask vendor lock {name}` (or declare {name}.fallback.{platform})",
                    platform.os.name()
                ));
            } else if let Err(err) = self.locate(name, platform) {
                problems.push(format!("{err:#}"));
            }
        }
        problems.sort();
        problems.dedup();
        problems
    }

    /// Where `platform`'s build of `name` comes from (following a fallback), unpinned.
    pub fn locate(&self, name: &str, platform: Platform) -> Result<Upstream> {
        let e = self.entry(name)?;
        let built_for = e.fallback.get(&platform).copied().unwrap_or(platform);
        let key = |field: &str| self.key_of(e, name, built_for, field);
        let field = |f: fn(&Source) -> Option<&String>| -> Option<&String> {
            overrides_for(e, built_for).find_map(f).or(f(&e.base))
        };
        let p = &self.path;
        let url_t =
            field(|s| s.url.as_ref()).with_context(|| format!("{p}: {name}.url: missing"))?;
        let vars = Vars::new(name, &e.version, built_for, &replacements(e, built_for));
        let url = vars
            .render(url_t, None)
            .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("url")))?;
        let format = match overrides_for(e, built_for)
            .find_map(|s| s.format)
            .or(e.base.format)
        {
            Some(f) => f,
            None => Format::from_url(&url).map_err(|m| {
                anyhow::anyhow!("{p}: {}: {m}; set `format` if the URL misleads", key("url"))
            })?,
        };
        let member = match (field(|s| s.member.as_ref()), format.has_members()) {
            (Some(t), true) => {
                let m = vars
                    .render(t, None)
                    .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("member")))?;
                Some(
                    vendor_archive::normalize(&m)
                        .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("member")))?,
                )
            }
            (None, true) => bail!(
                "{p}: {}: missing; a {} archive needs the path of the binary inside it",
                key("member"),
                format.name()
            ),
            (Some(_), false) => bail!(
                "{p}: {}: `member` applies only to tar.gz and zip, but {url} is {}",
                key("member"),
                format.name()
            ),
            (None, false) => None,
        };
        if built_for.os == Os::Windows {
            let (what, file) = match &member {
                Some(m) => ("member", m.as_str()),
                None => ("url", url.split(['?', '#']).next().unwrap_or(&url)),
            };
            if !file.to_ascii_lowercase().ends_with(".exe") {
                bail!(
                    "{p}: {}: `{file}` for {built_for} has no .exe; Windows runs only .exe files (add {{exe}})",
                    key(what)
                );
            }
        }
        let checksum_url = match field(|s| s.checksum_url.as_ref()) {
            Some(t) => Some(
                vars.render(t, Some(&url))
                    .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("checksum_url")))?,
            ),
            None => None,
        };
        Ok(Upstream {
            url,
            format,
            member,
            checksum_url,
            built_for,
        })
    }

    /// Everything needed to fetch and stage `name` for `platform`; an error when unpinned.
    pub fn resolve(&self, name: &str, platform: Platform) -> Result<Artifact> {
        let e = self.entry(name)?;
        let upstream = self.locate(name, platform)?;
        let Some(sha256) = e.sha256.get(&upstream.built_for) else {
            bail!(
                "{}: {name}.sha256.{}: missing; run `cargo xtask vendor lock {name}`",
                self.path,
                upstream.built_for
            );
        };
        let vars = Vars::new(name, &e.version, platform, &replacements(e, platform));
        let fill = |s: &String| vars.render(s, None).unwrap_or_else(|_| s.clone());
        let smoke = e.smoke.as_ref().map(|args| Smoke {
            args: args.iter().map(fill).collect(),
            expect: e.smoke_expect.as_ref().map(fill),
        });
        Ok(Artifact {
            name: name.to_owned(),
            platform,
            version: e.version.clone(),
            upstream,
            sha256: sha256.clone(),
            smoke,
        })
    }

    /// The dotted key a field of `name` comes from for `platform` (for error messages).
    fn key_of(&self, e: &Entry, name: &str, platform: Platform, field: &str) -> String {
        let from = [platform.to_string(), platform.os.name().to_owned()]
            .into_iter()
            .find(|k| {
                e.overrides.get(k).is_some_and(|s| match field {
                    "url" => s.url.is_some(),
                    "member" => s.member.is_some(),
                    "checksum_url" => s.checksum_url.is_some(),
                    _ => false,
                })
            });
        match from {
            Some(k) => format!("{name}.{k}.{field}"),
            None => format!("{name}.{field}"),
        }
    }
}

fn overrides_for(e: &Entry, p: Platform) -> impl Iterator<Item = &Source> {
    [p.to_string(), p.os.name().to_owned()]
        .into_iter()
        .filter_map(|k| e.overrides.get(&k))
}

fn replacements(e: &Entry, p: Platform) -> BTreeMap<String, String> {
    let mut r = e.base.replacements.clone();
    for s in overrides_for(e, p).collect::<Vec<_>>().into_iter().rev() {
        r.extend(s.replacements.clone());
    }
    r
}

/// The values placeholders expand to, with `replacements` applied to `{os}` and `{arch}`.
struct Vars<'a> {
    name: &'a str,
    version: &'a str,
    os: String,
    arch: String,
    exe: &'static str,
}

impl<'a> Vars<'a> {
    fn new(name: &'a str, version: &'a str, p: Platform, repl: &BTreeMap<String, String>) -> Self {
        let map = |s: &str| repl.get(s).cloned().unwrap_or_else(|| s.to_owned());
        Vars {
            name,
            version,
            os: map(p.os.name()),
            arch: map(p.arch.name()),
            exe: p.os.exe(),
        }
    }

    /// Fills `{placeholders}`; `{url}` only where `url` is given (in `checksum_url`).
    fn render(&self, template: &str, url: Option<&str>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{template}` has a `{{` without `}}`"))?;
            let key = &rest[open + 1..open + close];
            out.push_str(match key {
                "name" => self.name,
                "version" => self.version,
                "os" => &self.os,
                "arch" => &self.arch,
                "exe" => self.exe,
                "url" if url.is_some() => url.unwrap_or_default(),
                _ => {
                    let known = PLACEHOLDERS.join("}, {");
                    let extra = if url.is_some() { ", {url}" } else { "" };
                    return Err(format!(
                        "unknown placeholder `{{{key}}}` in `{template}` (known: {{{known}}}{extra})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

struct Problems<'a> {
    path: &'a Utf8Path,
    list: &'a mut Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, key: &str, msg: &str) {
        self.list.push(format!("{}: {key}: {msg}", self.path));
    }

    fn string(&mut self, key: &str, item: &Item) -> Option<String> {
        match item.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.at(key, "must be a string");
                None
            }
        }
    }

    /// A template: a string whose placeholders are all known.
    fn template(&mut self, key: &str, item: &Item, url_ok: bool) -> Option<String> {
        let s = self.string(key, item)?;
        let probe = Vars::new("", "", Platform::ALL[0], &BTreeMap::new());
        match probe.render(&s, url_ok.then_some("")) {
            Ok(_) => Some(s),
            Err(m) => {
                self.at(key, &m);
                None
            }
        }
    }

    fn source(&mut self, prefix: &str, t: &dyn TableLike, keys: &[&str]) -> Source {
        let mut s = Source::default();
        for (k, item) in t.iter() {
            let key = format!("{prefix}.{k}");
            match k {
                "url" => s.url = self.template(&key, item, false),
                "member" => s.member = self.template(&key, item, false),
                "checksum_url" => s.checksum_url = self.template(&key, item, true),
                "format" => {
                    s.format = self.string(&key, item).and_then(|f| {
                        let parsed = Format::parse(&f);
                        if parsed.is_none() {
                            self.at(&key, &format!("`{f}` is not one of {}", Format::NAMES));
                        }
                        parsed
                    })
                }
                "replacements" => s.replacements = self.replacements(&key, item),
                _ if keys.contains(&k) => {}
                _ => self.at(&key, &format!("unknown key (known: {})", keys.join(", "))),
            }
        }
        s
    }

    fn replacements(&mut self, key: &str, item: &Item) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(t) = item.as_table_like() else {
            self.at(
                key,
                "must be a table like { darwin = \"macOS\", amd64 = \"x86_64\" }",
            );
            return out;
        };
        for (k, v) in t.iter() {
            let sub = format!("{key}.{k}");
            if Os::parse(k).is_none() && Arch::parse(k).is_none() {
                self.at(&sub, "replaces only darwin, windows, linux, amd64 or arm64");
            } else if let Some(v) = self.string(&sub, v) {
                out.insert(k.to_owned(), v);
            }
        }
        out
    }

    fn platform_map(&mut self, key: &str, item: &Item) -> Vec<(Platform, String)> {
        let Some(t) = item.as_table_like() else {
            self.at(
                key,
                "must be a table keyed by OS-ARCH (darwin-amd64, ..., windows-arm64)",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let sub = format!("{key}.{k}");
            match Platform::parse(k) {
                None => self.at(
                    &sub,
                    "not an OS-ARCH pair (darwin|windows|linux)-(amd64|arm64)",
                ),
                Some(p) => {
                    if let Some(v) = self.string(&sub, v) {
                        out.push((p, v));
                    }
                }
            }
        }
        out
    }
}

fn parse_entry(p: &mut Problems<'_>, name: &str, t: &dyn TableLike) -> Option<Entry> {
    let errors_before = p.list.len();
    if name.is_empty()
        || name.contains(['/', '\\', ':'])
        || name.to_ascii_lowercase().ends_with(".exe")
    {
        p.at(
            name,
            "a binary's file name: no slashes, and no .exe (added on Windows)",
        );
    }
    let overrides_keys: Vec<String> = Os::ALL
        .iter()
        .map(|o| o.name().to_owned())
        .chain(Platform::ALL.iter().map(Platform::to_string))
        .collect();
    let mut keys: Vec<&str> = ENTRY_KEYS.to_vec();
    keys.extend(overrides_keys.iter().map(String::as_str));
    let base = p.source(name, t, &keys);
    let version = match t.get("version") {
        Some(v) => p.string(&format!("{name}.version"), v),
        None => {
            p.at(&format!("{name}.version"), "missing");
            None
        }
    };
    if base.url.is_none() && t.get("url").is_none() {
        p.at(&format!("{name}.url"), "missing");
    }
    let mut overrides = BTreeMap::new();
    for k in &overrides_keys {
        if let Some(item) = t.get(k) {
            let key = format!("{name}.{k}");
            match item.as_table_like() {
                Some(ot) => {
                    overrides.insert(k.clone(), p.source(&key, ot, OVERRIDE_KEYS));
                }
                None => p.at(
                    &key,
                    "must be a table overriding url, format, member, checksum_url or replacements",
                ),
            }
        }
    }
    let mut sha256 = BTreeMap::new();
    if let Some(item) = t.get("sha256") {
        for (platform, hex) in p.platform_map(&format!("{name}.sha256"), item) {
            if is_sha256(&hex) {
                sha256.insert(platform, hex);
            } else {
                p.at(&format!("{name}.sha256.{platform}"), &format!(
                    "`{hex}` is not a SHA-256 (64 lowercase hex digits); run `cargo xtask vendor lock {name}`"
                ));
            }
        }
    }
    let mut fallback = BTreeMap::new();
    if let Some(item) = t.get("fallback") {
        for (to, from) in p.platform_map(&format!("{name}.fallback"), item) {
            let key = format!("{name}.fallback.{to}");
            match fallback_problem(name, to, &from, &sha256) {
                Ok(from) => {
                    fallback.insert(to, from);
                }
                Err(m) => p.at(&key, &m),
            }
        }
    }
    let smoke = match t.get("smoke") {
        None => None,
        Some(item) => {
            let key = format!("{name}.smoke");
            let args: Option<Vec<String>> = item
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect());
            if args.is_none() {
                p.at(
                    &key,
                    "must be an array of strings, e.g. [\"version\", \"--client\"]",
                );
            }
            for a in args.iter().flatten() {
                p.template(&key, &toml_edit::value(a.as_str()), false);
            }
            args
        }
    };
    let smoke_expect = t
        .get("smoke_expect")
        .and_then(|i| p.template(&format!("{name}.smoke_expect"), i, false));
    if p.list.len() > errors_before {
        return None;
    }
    Some(Entry {
        version: version?,
        base,
        overrides,
        sha256,
        fallback,
        smoke,
        smoke_expect,
    })
}

/// A fallback must be explicit and plausible: same OS, an amd64 build standing in for
/// arm64 where the OS emulates it. (The stand-in's pin is checked where it is needed.)
fn fallback_problem(
    name: &str,
    to: Platform,
    from: &str,
    pins: &BTreeMap<Platform, String>,
) -> Result<Platform, String> {
    let Some(from) = Platform::parse(from) else {
        return Err(format!("`{from}` is not an OS-ARCH pair"));
    };
    if from.os != to.os {
        return Err(format!("{to} cannot run a {from} build (another OS)"));
    }
    if to.os == Os::Linux || !(to.arch == Arch::Arm64 && from.arch == Arch::Amd64) {
        return Err(format!(
            "{to} cannot run a {from} build; only Windows and macOS on arm64 emulate amd64"
        ));
    }
    if pins.contains_key(&to) {
        return Err(format!(
            "{name}.sha256.{to} is pinned too; keep one of them"
        ));
    }
    Ok(from)
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "extension/vendor.toml";
    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(Utf8Path::new(P), &text.replace("PIN", PIN))
    }
    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    const KUBECTL: &str = r#"
[kubectl]
version = "1.31.2"
url = "https://dl.k8s.io/release/v{version}/bin/{os}/{arch}/kubectl{exe}"
checksum_url = "{url}.sha256"
smoke = ["version", "--client"]
smoke_expect = "v{version}"
[kubectl.sha256]
darwin-amd64  = "PIN"
windows-arm64 = "PIN"
"#;

    #[test]
    fn the_issue_form_resolves() {
        let m = parse(KUBECTL).unwrap();
        let a = m.resolve("kubectl", p("windows-arm64")).unwrap();
        assert_eq!(
            a.upstream.url,
            "https://dl.k8s.io/release/v1.31.2/bin/windows/arm64/kubectl.exe"
        );
        assert_eq!(
            a.upstream.checksum_url.as_deref(),
            Some("https://dl.k8s.io/release/v1.31.2/bin/windows/arm64/kubectl.exe.sha256")
        );
        assert_eq!(a.upstream.format, Format::Raw);
        assert_eq!(a.file_name(), "kubectl.exe");
        assert_eq!(a.smoke.as_ref().unwrap().expect.as_deref(), Some("v1.31.2"));
        assert_eq!(a.fallback_note(), None);
        let err = m
            .resolve("kubectl", p("linux-arm64"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "extension/vendor.toml: kubectl.sha256.linux-arm64: missing; run `cargo xtask vendor lock kubectl`");
    }

    #[test]
    fn archives_overrides_replacements_and_fallbacks() {
        let m = parse(
            r#"
[tool]
version = "2.0.0"
url = "https://example.com/v{version}/tool-{os}-{arch}.tar.gz"
member = "tool-{version}/{os}/tool{exe}"
[tool.replacements]
darwin = "macOS"
amd64 = "x86_64"
[tool.windows]
url = "https://example.com/v{version}/tool-{os}-{arch}.zip"
[tool.darwin-arm64]
replacements = { arm64 = "aarch64" }
[tool.fallback]
windows-arm64 = "windows-amd64"
[tool.sha256]
windows-amd64 = "PIN"
darwin-arm64 = "PIN"
"#,
        )
        .unwrap();
        let a = m.resolve("tool", p("windows-arm64")).unwrap();
        assert_eq!(
            a.upstream.url,
            "https://example.com/v2.0.0/tool-windows-x86_64.zip"
        );
        assert_eq!(a.upstream.format, Format::Zip);
        assert_eq!(
            a.upstream.member.as_deref(),
            Some("tool-2.0.0/windows/tool.exe")
        );
        assert_eq!(a.upstream.built_for, p("windows-amd64"));
        assert!(a
            .fallback_note()
            .unwrap()
            .starts_with("tool for windows-arm64 is the windows-amd64 build"));
        let d = m.locate("tool", p("darwin-arm64")).unwrap();
        assert_eq!(
            d.url,
            "https://example.com/v2.0.0/tool-macOS-aarch64.tar.gz"
        );
        assert_eq!(m.platforms("tool").len(), 3);
    }

    #[test]
    fn file_problems_name_file_and_key() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/{verison}/k{exe}\"\n");
        assert!(
            e.contains("extension/vendor.toml: k.url: unknown placeholder `{verison}`"),
            "{e}"
        );
        let e = err(
            "[k]\nversion = \"1\"\nurl = \"https://x/k\"\nsha256 = { windows-amd64 = \"PIN\" }\n",
        );
        assert!(
            e.contains("extension/vendor.toml: k.url: `https://x/k` for windows-amd64 has no .exe"),
            "{e}"
        );
        let e = err(
            "[k]\nversion = \"1\"\nurl = \"https://x/k.tgz\"\nsha256 = { linux-amd64 = \"PIN\" }\n",
        );
        assert!(
            e.contains("k.member: missing; a tar.gz archive needs"),
            "{e}"
        );
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/k.tgz\"\nmember = \"../k\"\nsha256 = { linux-amd64 = \"PIN\" }\n");
        assert!(e.contains("k.member: `../k` climbs out"), "{e}");
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/k\"\nsha256 = { linux-amd64 = \"abc\", mac-amd64 = \"PIN\" }\nurll = 1\n");
        assert!(
            e.contains("k.sha256.linux-amd64: `abc` is not a SHA-256"),
            "{e}"
        );
        assert!(e.contains("k.sha256.mac-amd64: not an OS-ARCH pair"), "{e}");
        assert!(e.contains("k.urll: unknown key"), "{e}");
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/k\"\nsha256 = { linux-amd64 = \"PIN\" }\nfallback = { linux-arm64 = \"linux-amd64\" }\n");
        assert!(
            e.contains("k.fallback.linux-arm64: linux-arm64 cannot run a linux-amd64 build"),
            "{e}"
        );
    }

    #[test]
    fn checks_against_metadata_and_workspace() {
        let m = parse(KUBECTL).unwrap();
        let bins: BTreeSet<String> = ["kubectl".to_owned()].into();
        let problems = m.check(
            &[
                ("kubectl", p("darwin-amd64")),
                ("kubectl", p("windows-amd64")),
                ("kubectl", p("linux-amd64")),
                ("helm", p("linux-amd64")),
            ],
            &bins,
        );
        let all = problems.join("\n");
        assert!(
            all.contains("[kubectl]: `kubectl` is also a binary the workspace builds"),
            "{all}"
        );
        assert!(
            all.contains("metadata.json: /windows/kubectl has no .exe"),
            "{all}"
        );
        assert!(all.contains("kubectl.sha256.linux-amd64: missing, but metadata.json ships /linux/kubectl to linux-amd64"), "{all}");
        assert!(
            all.contains("no [helm] table, but metadata.json ships /linux/helm"),
            "{all}"
        );
        assert_eq!(problems.len(), 5, "{all}");
        assert!(m
            .check(&[("kubectl.exe", p("windows-arm64"))], &BTreeSet::new())
            .is_empty());
    }
}
