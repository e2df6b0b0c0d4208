//! Docker's extension image labels: the rules an image must meet (used by `verify` on
//! any image) and our own values, which live only in `extension/labels.json`. The
//! Dockerfile's LABEL lines are generated from that file (`cargo xtask codegen`), so
//! what we build and what `verify` checks cannot drift apart.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde_json::Value;

pub type Labels = BTreeMap<String, String>;

pub const TITLE: &str = "org.opencontainers.image.title";
pub const API_VERSION: &str = "com.docker.desktop.extension.api.version";
pub const ICON: &str = "com.docker.desktop.extension.icon";
pub const SCREENSHOTS: &str = "com.docker.extension.screenshots";
pub const PUBLISHER_URL: &str = "com.docker.extension.publisher-url";
pub const ADDITIONAL_URLS: &str = "com.docker.extension.additional-urls";
pub const CATEGORIES: &str = "com.docker.extension.categories";
pub const ACCOUNT_INFO: &str = "com.docker.extension.account-info";
pub const CHANGELOG: &str = "com.docker.extension.changelog";

/// Without these Docker Desktop considers an extension invalid
/// (https://docs.docker.com/extensions/extensions-sdk/extensions/labels/).
pub const REQUIRED: [&str; 9] = [
    TITLE,
    "org.opencontainers.image.description",
    "org.opencontainers.image.vendor",
    API_VERSION,
    ICON,
    SCREENSHOTS,
    "com.docker.extension.detailed-description",
    PUBLISHER_URL,
    CHANGELOG,
];

/// The Marketplace's categories.
pub const KNOWN_CATEGORIES: [&str; 12] = [
    "ci-cd",
    "container-orchestration",
    "cloud-deployment",
    "cloud-development",
    "database",
    "kubernetes",
    "networking",
    "image-registry",
    "security",
    "testing-tools",
    "utility-tools",
    "volumes",
];

/// Reads `labels.json`: an object of label -> string, where the JSON-valued labels
/// (screenshots, additional URLs) may be written as JSON arrays for readability.
pub fn load(file: &Utf8Path) -> Result<Labels> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    parse(file, &text)
}

/// [`load`] of text already read (`release` checks the labels.json it is about to write).
pub fn parse(file: &Utf8Path, text: &str) -> Result<Labels> {
    let map: BTreeMap<String, Value> = serde_json::from_str(text)
        .with_context(|| format!("{file}: expected a JSON object of label -> value"))?;
    let mut labels = Labels::new();
    for (k, v) in map {
        let s = match v {
            Value::String(s) => s,
            Value::Array(_) | Value::Object(_) => v.to_string(),
            other => bail!("{file}: `{k}`: expected a string (or a JSON array), found {other}"),
        };
        labels.insert(k, s);
    }
    let mut problems = check(&labels);
    problems.extend(check_repository_files(&labels, &crate::paths::root()));
    if !problems.is_empty() {
        bail!(
            "{file}: {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(labels)
}

/// Every way `labels` falls short of Docker's rules, one line each naming the label,
/// what was expected and what was found.
pub fn check(labels: &Labels) -> Vec<String> {
    let mut out = Vec::new();
    for key in REQUIRED {
        match labels.get(key) {
            None => out.push(format!("label `{key}` is missing (required)")),
            Some(v) if v.trim().is_empty() => {
                out.push(format!("label `{key}` is empty (required)"))
            }
            Some(_) => {}
        }
    }
    let mut bad = |key: &str, expected: &str| {
        let found = labels.get(key).map(String::as_str).unwrap_or_default();
        out.push(format!(
            "label `{key}`: expected {expected}, found `{}`",
            clip(found)
        ));
    };
    if let Some(v) = labels.get(API_VERSION) {
        if semver::VersionReq::parse(v).is_err() {
            bad(API_VERSION, "a semver version or range like `>= 0.3.4`");
        }
    }
    if let Some(v) = labels.get(ICON) {
        let lower = v.to_ascii_lowercase();
        if !is_url(v)
            || ![".svg", ".png", ".jpg", ".jpeg"]
                .iter()
                .any(|e| lower.ends_with(e))
        {
            bad(ICON, "an http(s) URL of an .svg, .png or .jpg image");
        }
    }
    if let Some(v) = labels.get(PUBLISHER_URL) {
        if !is_url(v) {
            bad(PUBLISHER_URL, "an http(s) URL");
        }
    }
    if let Some(v) = labels.get(SCREENSHOTS) {
        if !json_links(v, "alt", true) {
            bad(
                SCREENSHOTS,
                r#"a non-empty JSON array of {"alt": "...", "url": "https://..."}"#,
            );
        }
    }
    if let Some(v) = labels.get(ADDITIONAL_URLS) {
        if !json_links(v, "title", false) {
            bad(
                ADDITIONAL_URLS,
                r#"a JSON array of {"title": "...", "url": "https://..."}"#,
            );
        }
    }
    if let Some(v) = labels.get(CATEGORIES) {
        if !v.split(',').all(|c| KNOWN_CATEGORIES.contains(&c.trim())) {
            bad(
                CATEGORIES,
                &format!(
                    "comma-separated categories from: {}",
                    KNOWN_CATEGORIES.join(", ")
                ),
            );
        }
    }
    if let Some(v) = labels.get(ACCOUNT_INFO) {
        if !matches!(v.as_str(), "" | "required") {
            bad(ACCOUNT_INFO, "`required` or empty");
        }
    }
    out
}

/// The icon and screenshot URLs that point into this repository's own files
/// (`https://raw.githubusercontent.com/OWNER/REPO/BRANCH/PATH`, OWNER/REPO from the publisher
/// URL `https://github.com/OWNER/REPO`) must name a file `root` has: the Marketplace would
/// show a broken picture otherwise. Other URLs cannot be checked from here.
pub fn check_repository_files(labels: &Labels, root: &Utf8Path) -> Vec<String> {
    let Some(repo) = labels
        .get(PUBLISHER_URL)
        .and_then(|u| u.strip_prefix("https://github.com/"))
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| r.split('/').count() == 2)
    else {
        return Vec::new();
    };
    let raw = format!("https://raw.githubusercontent.com/{repo}/");
    let mut urls: Vec<(&str, String)> = Vec::new();
    if let Some(icon) = labels.get(ICON) {
        urls.push((ICON, icon.clone()));
    }
    if let Some(Ok(Value::Array(shots))) = labels.get(SCREENSHOTS).map(|v| serde_json::from_str(v))
    {
        for shot in shots {
            if let Some(u) = shot["url"].as_str() {
                urls.push((SCREENSHOTS, u.to_owned()));
            }
        }
    }
    let mut out = Vec::new();
    for (key, url) in urls {
        // BRANCH/PATH; a branch name with a `/` in it would be read as part of the path.
        let Some((_, path)) = url.strip_prefix(&raw).and_then(|r| r.split_once('/')) else {
            continue;
        };
        if !root.join(path).is_file() {
            out.push(format!(
                "label `{key}`: `{url}` points into this repository, but {path} does not exist in \
                 {root}: add the file (`cargo xtask screenshots` makes docs/*.png) or fix the URL"
            ));
        }
    }
    out
}

fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

/// A JSON array of objects with a string `name_key` and an http(s) `url`.
fn json_links(v: &str, name_key: &str, non_empty: bool) -> bool {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(v) else {
        return false;
    };
    (!non_empty || !items.is_empty())
        && items
            .iter()
            .all(|i| i[name_key].is_string() && i["url"].as_str().is_some_and(is_url))
}

fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The Dockerfile: no base image and no RUN, so nothing is pulled or emulated and the
/// layer is exactly the staged tree of the platform being built. `command` is the VM
/// service's, in exec form: `FROM scratch` has no shell to run a shell-form one.
pub fn dockerfile(labels: &Labels, command: Option<&[String]>) -> String {
    let mut out = String::from(
        "# Generated by `cargo xtask codegen` from extension/labels.json (labels), metadata.json\n\
         # (`vm`) and Cargo.toml ([workspace.metadata.extension] vm-service): edit those, not this file.\n\
         # Build context: target/dist/stage (one directory per platform, made by `cargo xtask stage`).\n\
         FROM scratch\n",
    );
    let lines: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    out.push_str(&format!("LABEL {}\n", lines.join(" \\\n      ")));
    out.push_str("ARG TARGETARCH\nCOPY linux-${TARGETARCH}/ /\n");
    if let Some(argv) = command {
        // A JSON array is exactly Docker's exec form.
        out.push_str(&format!("CMD {}\n", serde_json::Value::from(argv.to_vec())));
    }
    out
}

/// Dockerfile double-quoted strings: backslash, quote and `$` (variable expansion)
/// are escaped; newlines would end the instruction, so they become spaces.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' | '"' | '$' => {
                s.push('\\');
                s.push(c);
            }
            '\n' | '\r' => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    fn ours() -> Labels {
        load(&paths::labels_json()).unwrap()
    }

    #[test]
    fn our_labels_pass_the_rules() {
        assert_eq!(check(&ours()), Vec::<String>::new());
    }

    #[test]
    fn each_rule_names_label_expected_and_found() {
        let mut l = ours();
        l.remove("org.opencontainers.image.vendor");
        l.insert(API_VERSION.into(), "soon".into());
        l.insert(ICON.into(), "icon.svg".into());
        l.insert(SCREENSHOTS.into(), r#"[{"alt": "x"}]"#.into());
        l.insert(ADDITIONAL_URLS.into(), "not json".into());
        l.insert(CATEGORIES.into(), "utility-tools,games".into());
        l.insert(PUBLISHER_URL.into(), "ftp://x".into());
        let p = check(&l).join("\n");
        for needle in [
            "label `org.opencontainers.image.vendor` is missing",
            "`com.docker.desktop.extension.api.version`: expected a semver version or range like `>= 0.3.4`, found `soon`",
            "`com.docker.desktop.extension.icon`: expected an http(s) URL",
            "`com.docker.extension.screenshots`: expected a non-empty JSON array",
            "`com.docker.extension.additional-urls`: expected a JSON array",
            "`com.docker.extension.categories`: expected comma-separated categories from: ci-cd",
            "`com.docker.extension.publisher-url`: expected an http(s) URL, found `ftp://x`",
        ] {
            assert!(p.contains(needle), "`{needle}` not in:\n{p}");
        }
        assert_eq!(p.lines().count(), 7, "{p}");
    }

    #[test]
    fn repository_urls_must_name_files_of_the_checkout() {
        let mut l = ours();
        assert_eq!(
            check_repository_files(&l, &paths::root()),
            Vec::<String>::new()
        );
        let missing = "https://raw.githubusercontent.com/host-facts/host-facts/main/docs/nope.png";
        let elsewhere = "https://example.com/docs/nope.png";
        l.insert(
            SCREENSHOTS.into(),
            format!(
                r#"[{{"alt": "a", "url": "{missing}"}}, {{"alt": "b", "url": "{elsewhere}"}}]"#
            ),
        );
        let p = check_repository_files(&l, &paths::root());
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with(&format!("label `{SCREENSHOTS}`: `{missing}` points into this repository, but docs/nope.png does not exist")), "{p:?}");
    }

    #[test]
    fn semver_ranges_from_docs_are_accepted() {
        for v in ["0.1.0", ">= 0.1.0", ">= 1.4.7, < 2.0"] {
            let mut l = ours();
            l.insert(API_VERSION.into(), v.into());
            assert_eq!(check(&l), Vec::<String>::new(), "{v}");
        }
    }

    #[test]
    fn dockerfile_escapes_values() {
        let l: Labels = [("a".to_owned(), r#"say "hi" \ $HOME"#.to_owned())].into();
        let d = dockerfile(&l, None);
        assert!(d.contains(r#"LABEL a="say \"hi\" \\ \$HOME""#), "{d}");
        assert!(d.ends_with("ARG TARGETARCH\nCOPY linux-${TARGETARCH}/ /\n"));
        let argv = [
            "/s".to_owned(),
            "--socket".into(),
            "/run/guest-services/a \"b\".sock".into(),
        ];
        let d = dockerfile(&l, Some(&argv));
        assert!(
            d.ends_with("CMD [\"/s\",\"--socket\",\"/run/guest-services/a \\\"b\\\".sock\"]\n"),
            "{d}"
        );
    }
}
