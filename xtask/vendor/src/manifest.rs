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
//! and Bazel's `http_archive` (sha256 first, then extract).
//!
//! The `vendor_*` modules depend on nothing else in the crate but the leaf's `toml`
//! (`toml_edit` underneath: `parse` to read, `set_string` to write pins; the caller maps
//! its own target table onto [`HostPlatform`]), and on each other in one direction:
//! `platform`, `archive`, `curl` (leaves) <- `schema` (tables to
//! entries) <- `vendor` (this: what one platform gets, checks against metadata) <-
//! `fetch` (the cache) <- `lock` (writes pins).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::archive::{self, Format};
use crate::curl;
use crate::platform::Vars;
pub use crate::platform::{Arch, HostPlatform, Os};
use crate::schema::{self, Entry, Source};

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
    pub built_for: HostPlatform,
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
    pub platform: HostPlatform,
    pub version: String,
    pub upstream: Upstream,
    /// 64 lowercase hex digits.
    pub sha256: String,
    pub smoke: Option<Smoke>,
}

impl Artifact {
    /// The staged file name: `kubectl`, or `kubectl.exe` on Windows.
    pub fn file_name(&self) -> String {
        format!("{}{}", self.name, self.platform.os.exe_suffix())
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

/// A parsed `vendor.toml`. Every error names the file and the key (`kubectl.sha256.linux-arm64`).
#[derive(Debug, Clone)]
pub struct Manifest {
    path: Utf8PathBuf,
    /// In file order.
    entries: Vec<(String, Entry)>,
}

impl Manifest {
    pub fn load(path: &Utf8Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        Manifest::parse(path, &text)
    }

    /// Parses and checks everything the file can tell on its own; all problems at once.
    pub fn parse(path: &Utf8Path, text: &str) -> Result<Manifest> {
        let doc = schema::read(path, text)?;
        let (entries, mut problems) = schema::parse_entries(path, &doc);
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
    pub fn platforms(&self, name: &str) -> BTreeSet<HostPlatform> {
        self.entry(name)
            .map(|e| e.sha256.keys().chain(e.fallback.keys()).copied().collect())
            .unwrap_or_default()
    }

    /// The pin for `name` on `platform` as written (a fallback platform has none of its own).
    pub fn pin(&self, name: &str, platform: HostPlatform) -> Option<&str> {
        self.entry(name)
            .ok()?
            .sha256
            .get(&platform)
            .map(String::as_str)
    }

    /// The fallback's source platform for `platform`, if `name` declares one.
    pub fn fallback(&self, name: &str, platform: HostPlatform) -> Option<HostPlatform> {
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
        needed: &[(&str, HostPlatform)],
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
                    platform.os.dir()
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
                    platform.os.dir()
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
    pub fn locate(&self, name: &str, platform: HostPlatform) -> Result<Upstream> {
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
            .and_then(https_or_loopback)
            .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("url")))?;
        let format = match overrides_for(e, built_for)
            .find_map(|s| s.format)
            .or(e.base.format)
        {
            Some(f) => f,
            None => Format::from_url(&url, name).map_err(|m| {
                anyhow::anyhow!("{p}: {}: {m}; set `format` if the URL misleads", key("url"))
            })?,
        };
        let member = match (field(|s| s.member.as_ref()), format.has_members()) {
            (Some(t), true) => {
                let m = vars
                    .render(t, None)
                    .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("member")))?;
                Some(
                    archive::normalize(&m)
                        .map_err(|m| anyhow::anyhow!("{p}: {}: {m}", key("member")))?,
                )
            }
            (None, true) => bail!(
                "{p}: {}: missing; a {} archive needs the path of the binary inside it",
                key("member"),
                format.name()
            ),
            (Some(_), false) => bail!(
                "{p}: {}: `member` applies only to archives (tar, tar.gz, tar.xz, zip), but {url} is {}",
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
                    .and_then(https_or_loopback)
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
    pub fn resolve(&self, name: &str, platform: HostPlatform) -> Result<Artifact> {
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
    fn key_of(&self, e: &Entry, name: &str, platform: HostPlatform, field: &str) -> String {
        let from = [platform.to_string(), platform.os.dir().to_owned()]
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

/// Checked here too, not only per download, so a plain-HTTP URL fails before anything runs.
fn https_or_loopback(url: String) -> Result<String, String> {
    match curl::host(&url) {
        Some(h) if url.starts_with("https://") || curl::is_loopback(h) => Ok(url),
        _ => Err(format!(
            "`{url}` is not an https:// URL (plain http:// only for loopback hosts)"
        )),
    }
}

fn overrides_for(e: &Entry, p: HostPlatform) -> impl Iterator<Item = &Source> {
    [p.to_string(), p.os.dir().to_owned()]
        .into_iter()
        .filter_map(|k| e.overrides.get(&k))
}

fn replacements(e: &Entry, p: HostPlatform) -> BTreeMap<String, String> {
    let mut r = e.base.replacements.clone();
    for s in overrides_for(e, p).collect::<Vec<_>>().into_iter().rev() {
        r.extend(s.replacements.clone());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "extension/vendor.toml";
    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(Utf8Path::new(P), &text.replace("PIN", PIN))
    }
    fn p(s: &str) -> HostPlatform {
        HostPlatform::parse(s).unwrap()
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
        let e =
            err("[k]\nversion = \"1\"\nurl = \"http://x/k\"\nsha256 = { linux-amd64 = \"PIN\" }\n");
        assert!(
            e.contains("k.url: `http://x/k` is not an https:// URL (plain http:// only for loopback hosts)"),
            "{e}"
        );
        let e = err("[k]\nversion = \"1\"\nurl = \"https://x/k\"\nsha256 = { linux-amd64 = \"PIN\" }\nfallback = { linux-arm64 = \"linux-amd64\" }\n");
        assert!(
            e.contains("k.fallback.linux-arm64: linux-arm64 cannot run a linux-amd64 build"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_and_problems_name_the_line() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        // A float is TOML, but not a version: 1.10 would read as 1.1.
        assert_eq!(
            err("[k]\nversion = 1.31\nurl = \"https://x/k\"\n"),
            "extension/vendor.toml: k.version: must be a string, not a float: quote it \
             (TOML reads 1.10 as the number 1.1) (line 2)"
        );
        assert_eq!(
            err("[k]\nversion = \"1\"\n[k]\n"),
            "extension/vendor.toml:3:2: TOML syntax: duplicate key: `k`"
        );
        let e =
            err("[k]\nversion = \"1\"\nurl = \"https://x/{verison}/k{exe}\"\nsmoke = [\"a\", 1]\n");
        assert!(
            e.lines().any(|l| l
                .starts_with("extension/vendor.toml: k.url: unknown placeholder `{verison}`")
                && l.ends_with(" (line 3)")),
            "{e}"
        );
        assert!(
            e.contains(
                "k.smoke: must be an array of strings, e.g. [\"version\", \"--client\"] (line 4)"
            ),
            "{e}"
        );
        let e = err("[k.sha256]\nlinux-amd64 = \"PIN\"\n");
        assert!(
            e.contains("extension/vendor.toml: k.version: missing (line 1)"),
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
