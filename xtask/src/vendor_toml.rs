//! Reads `vendor.toml`'s tables into entries, collecting every problem (each naming the
//! file and the dotted key) instead of stopping at the first: unknown keys and
//! placeholders, malformed pins, implausible fallbacks. What a value means for one
//! platform is `vendor`'s business.

use std::collections::BTreeMap;

use camino::Utf8Path;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::vendor_archive::Format;
use crate::vendor_platform::{is_sha256, Arch, Os, Platform, Vars};

/// The fields an override table may change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) url: Option<String>,
    pub(crate) format: Option<Format>,
    pub(crate) member: Option<String>,
    pub(crate) checksum_url: Option<String>,
    pub(crate) replacements: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) version: String,
    pub(crate) base: Source,
    /// Keyed by `windows` or `windows-arm64`; the OS-ARCH one wins.
    pub(crate) overrides: BTreeMap<String, Source>,
    pub(crate) sha256: BTreeMap<Platform, String>,
    pub(crate) fallback: BTreeMap<Platform, Platform>,
    pub(crate) smoke: Option<Vec<String>>,
    pub(crate) smoke_expect: Option<String>,
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

/// Every table of `doc` that parsed cleanly, and the problems of the others.
pub(crate) fn parse_entries(
    path: &Utf8Path,
    doc: &DocumentMut,
) -> (Vec<(String, Entry)>, Vec<String>) {
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
    (entries, problems)
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
            if Os::from_dir(k).is_none() && Arch::from_docker(k).is_none() {
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
        .map(|o| o.dir().to_owned())
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
