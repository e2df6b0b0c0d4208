//! Reads `vendor.toml`'s tables into entries, collecting every problem (each naming the
//! file, the dotted key and its line) instead of stopping at the first: unknown keys and
//! placeholders, malformed pins, implausible fallbacks. What a value means for one
//! platform is `vendor`'s business.

use std::collections::BTreeMap;

use anyhow::Result;
use camino::Utf8Path;

use crate::archive::Format;
use crate::digest::is_sha256;
use crate::platform::{Arch, HostPlatform, Os, Vars};
use crate::toml::{self, Kind, Table, Value};

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
    pub(crate) sha256: BTreeMap<HostPlatform, String>,
    pub(crate) fallback: BTreeMap<HostPlatform, HostPlatform>,
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

/// The document `text` (read from `path`); a syntax error names the file, the line and
/// the column, with toml_edit's message.
pub(crate) fn read(path: &Utf8Path, text: &str) -> Result<Table> {
    toml::parse(text)
        .map_err(|e| anyhow::anyhow!("{path}:{}:{}: TOML syntax: {}", e.line, e.column, e.message))
}

/// Every table of `doc` that parsed cleanly, and the problems of the others.
pub(crate) fn parse_entries(path: &Utf8Path, doc: &Table) -> (Vec<(String, Entry)>, Vec<String>) {
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    for (name, item) in doc.iter() {
        let mut p = Problems {
            path,
            list: &mut problems,
        };
        if item.as_table().is_none() {
            p.at(name, item, "must be a table (`[name]`), one per binary");
            continue;
        }
        if let Some(e) = parse_entry(&mut p, name, item) {
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
    /// `extension/vendor.toml: k.url: MESSAGE (line 3)`: the line of `item`, the value
    /// (or table) the problem is about.
    fn at(&mut self, key: &str, item: &Value, msg: &str) {
        self.list
            .push(format!("{}: {key}: {msg} (line {})", self.path, item.line));
    }

    fn string(&mut self, key: &str, item: &Value) -> Option<String> {
        match item.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                let m = format!("must be a string, not {}", item.type_name());
                self.at(key, item, &m);
                None
            }
        }
    }

    /// A string, or a date as projects that version by date write it (rust-analyzer's
    /// `2024-05-06`: TOML reads it unquoted as a date). A number is refused: TOML reads
    /// `1.10` as the float 1.1, which would fetch the wrong release.
    fn version(&mut self, key: &str, item: &Value) -> Option<String> {
        match &item.kind {
            Kind::Datetime(d) => Some(d.clone()),
            Kind::Float(_) | Kind::Integer(_) => {
                let m = format!(
                    "must be a string, not {}: quote it (TOML reads 1.10 as the number 1.1)",
                    item.type_name()
                );
                self.at(key, item, &m);
                None
            }
            _ => self.string(key, item),
        }
    }

    /// A template: a string whose placeholders are all known.
    fn template(&mut self, key: &str, item: &Value, url_ok: bool) -> Option<String> {
        let s = self.string(key, item)?;
        let probe = Vars::new("", "", HostPlatform::ALL[0], &BTreeMap::new());
        match probe.render(&s, url_ok.then_some("")) {
            Ok(_) => Some(s),
            Err(m) => {
                self.at(key, item, &m);
                None
            }
        }
    }

    fn source(&mut self, prefix: &str, t: &Table, keys: &[&str]) -> Source {
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
                            let m = format!("`{f}` is not one of {}", Format::NAMES);
                            self.at(&key, item, &m);
                        }
                        parsed
                    })
                }
                "replacements" => s.replacements = self.replacements(&key, item),
                _ if keys.contains(&k) => {}
                _ => self.at(
                    &key,
                    item,
                    &format!("unknown key (known: {})", keys.join(", ")),
                ),
            }
        }
        s
    }

    fn replacements(&mut self, key: &str, item: &Value) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(t) = item.as_table() else {
            self.at(
                key,
                item,
                "must be a table like { darwin = \"macOS\", amd64 = \"x86_64\" }",
            );
            return out;
        };
        for (k, v) in t.iter() {
            let sub = format!("{key}.{k}");
            if Os::from_dir(k).is_none() && Arch::from_docker(k).is_none() {
                self.at(
                    &sub,
                    v,
                    "replaces only darwin, windows, linux, amd64 or arm64",
                );
            } else if let Some(v) = self.string(&sub, v) {
                out.insert(k.to_owned(), v);
            }
        }
        out
    }

    /// The platform, the string and the value it came from.
    fn platform_map<'v>(
        &mut self,
        key: &str,
        item: &'v Value,
    ) -> Vec<(HostPlatform, String, &'v Value)> {
        let Some(t) = item.as_table() else {
            self.at(
                key,
                item,
                "must be a table keyed by OS-ARCH (darwin-amd64, ..., windows-arm64)",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let sub = format!("{key}.{k}");
            match HostPlatform::parse(k) {
                None => self.at(
                    &sub,
                    v,
                    "not an OS-ARCH pair (darwin|windows|linux)-(amd64|arm64)",
                ),
                Some(p) => {
                    if let Some(s) = self.string(&sub, v) {
                        out.push((p, s, v));
                    }
                }
            }
        }
        out
    }
}

/// `item`: the table `[name]`.
fn parse_entry(p: &mut Problems<'_>, name: &str, item: &Value) -> Option<Entry> {
    let t = item.as_table()?;
    let errors_before = p.list.len();
    if name.is_empty()
        || name.contains(['/', '\\', ':'])
        || name.to_ascii_lowercase().ends_with(".exe")
    {
        p.at(
            name,
            item,
            "a binary's file name: no slashes, and no .exe (added on Windows)",
        );
    }
    let overrides_keys: Vec<String> = Os::ALL
        .iter()
        .map(|o| o.dir().to_owned())
        .chain(HostPlatform::ALL.iter().map(HostPlatform::to_string))
        .collect();
    let mut keys: Vec<&str> = ENTRY_KEYS.to_vec();
    keys.extend(overrides_keys.iter().map(String::as_str));
    let base = p.source(name, t, &keys);
    let version = match t.get("version") {
        Some(v) => p.version(&format!("{name}.version"), v),
        None => {
            p.at(&format!("{name}.version"), item, "missing");
            None
        }
    };
    if base.url.is_none() && t.get("url").is_none() {
        p.at(&format!("{name}.url"), item, "missing");
    }
    let mut overrides = BTreeMap::new();
    for k in &overrides_keys {
        if let Some(item) = t.get(k) {
            let key = format!("{name}.{k}");
            match item.as_table() {
                Some(ot) => {
                    overrides.insert(k.clone(), p.source(&key, ot, OVERRIDE_KEYS));
                }
                None => p.at(
                    &key,
                    item,
                    "must be a table overriding url, format, member, checksum_url or replacements",
                ),
            }
        }
    }
    let mut sha256 = BTreeMap::new();
    if let Some(item) = t.get("sha256") {
        for (platform, hex, v) in p.platform_map(&format!("{name}.sha256"), item) {
            if is_sha256(&hex) {
                sha256.insert(platform, hex);
            } else {
                p.at(&format!("{name}.sha256.{platform}"), v, &format!(
                    "`{hex}` is not a SHA-256 (64 lowercase hex digits); run `cargo xtask vendor lock {name}`"
                ));
            }
        }
    }
    let mut fallback = BTreeMap::new();
    if let Some(item) = t.get("fallback") {
        for (to, from, v) in p.platform_map(&format!("{name}.fallback"), item) {
            let key = format!("{name}.fallback.{to}");
            match fallback_problem(name, to, &from, &sha256) {
                Ok(from) => {
                    fallback.insert(to, from);
                }
                Err(m) => p.at(&key, v, &m),
            }
        }
    }
    let smoke = match t.get("smoke") {
        None => None,
        Some(item) => {
            let key = format!("{name}.smoke");
            match item
                .as_array()
                .filter(|a| a.iter().all(|v| v.as_str().is_some()))
            {
                Some(values) => Some(
                    values
                        .iter()
                        .filter_map(|v| p.template(&key, v, false))
                        .collect(),
                ),
                None => {
                    p.at(
                        &key,
                        item,
                        "must be an array of strings, e.g. [\"version\", \"--client\"]",
                    );
                    None
                }
            }
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
    to: HostPlatform,
    from: &str,
    pins: &BTreeMap<HostPlatform, String>,
) -> Result<HostPlatform, String> {
    let Some(from) = HostPlatform::parse(from) else {
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

#[cfg(test)]
mod tests {
    use camino::Utf8Path;

    use crate::manifest::{HostPlatform, Manifest};

    const PIN: &str = "4f6c3aa2b1f1e1a0d9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6";

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(Utf8Path::new("vendor.toml"), &text.replace("PIN", PIN))
    }

    /// The same manifest in every form TOML 1.0 offers reads the same: multi-line basic
    /// and literal strings, line continuations, dotted keys, inline tables, comments in
    /// every place one may stand; and a date as a version.
    #[test]
    fn every_toml_form_reads_the_same() {
        let plain = parse(
            "[ra]\nversion = \"2024-05-06\"\n\
             url = \"https://example.com/{version}/ra-{os}-{arch}.tar.gz\"\n\
             member = 'ra{exe}'\nsmoke = [\"--version\"]\n\
             [ra.sha256]\nlinux-amd64 = \"PIN\"\n",
        )
        .unwrap();
        let fancy = parse(
            r#"# top
[ra] # after a header
# before a key
version = 2024-05-06   # a TOML date, as rust-analyzer versions its releases
url = """
https://example.com/{version}/\
ra-{os}-{arch}.tar.gz"""
member = '''ra{exe}'''
smoke = [ # inside an array
  '--version', # after an element
  # on a line of its own
]
sha256.linux-amd64 = """PIN"""  # a dotted key
# last
"#,
        )
        .unwrap();
        let p = HostPlatform::parse("linux-amd64").unwrap();
        assert_eq!(fancy.version("ra"), Some("2024-05-06"));
        assert_eq!(
            fancy.resolve("ra", p).unwrap(),
            plain.resolve("ra", p).unwrap()
        );
        assert_eq!(
            fancy.resolve("ra", p).unwrap().upstream.url,
            "https://example.com/2024-05-06/ra-linux-amd64.tar.gz"
        );
    }

    /// Valid TOML of the wrong shape for the schema names the key, what it found, and
    /// the line.
    #[test]
    fn wrong_types_name_key_type_and_line() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        let e = err("[[k]]\nversion = \"1\"\n");
        assert_eq!(
            e,
            "vendor.toml: k: must be a table (`[name]`), one per binary (line 1)"
        );
        let e = err(
            "[k]\nversion = \"1\"\nurl = \"https://x/k\"\nsmoke = [\"a\", 1.5]\n\
                     smoke_expect = 1979-05-27T07:32:00Z\n[k.sha256]\nlinux-amd64 = 1\n",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines,
            [
                "vendor.toml: k.sha256.linux-amd64: must be a string, not an integer (line 7)",
                "vendor.toml: k.smoke: must be an array of strings, e.g. [\"version\", \"--client\"] (line 4)",
                "vendor.toml: k.smoke_expect: must be a string, not a date or time (line 5)",
            ]
        );
        let e = err("[k]\nversion = 3\nurl = '''\nhttps://x/k'''\n");
        assert_eq!(
            e,
            "vendor.toml: k.version: must be a string, not an integer: quote it \
             (TOML reads 1.10 as the number 1.1) (line 2)"
        );
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/k\"\n[k.sha256]\n\nlinux-amd64 = \"PIN\"\nlinux-amd64 = \"PIN\"\n");
        assert_eq!(
            e,
            "vendor.toml:7:1: TOML syntax: duplicate key: `linux-amd64`"
        );
    }
}
