//! The file edits of a release, as pure functions from old text to new text (so `--dry-run`
//! can show them as diffs and the real run writes exactly what was shown): the workspace
//! version in Cargo.toml and Cargo.lock through toml_edit (cargo's own TOML editor: every
//! comment and other byte kept), and one value of labels.json.

use std::fmt;

use anyhow::{bail, Context, Result};
use semver::Version;
use serde_core::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use toml_edit::{DocumentMut, Item, Value};

/// How far a release moves the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bump {
    Patch,
    Minor,
    Major,
    To(Version),
}

impl Bump {
    pub fn parse(s: &str) -> Result<Bump, String> {
        Ok(match s {
            "patch" => Bump::Patch,
            "minor" => Bump::Minor,
            "major" => Bump::Major,
            v => Bump::To(Version::parse(v).map_err(|e| {
                format!("expected patch, minor, major or a version X.Y.Z, found `{v}` ({e})")
            })?),
        })
    }

    pub fn apply(&self, current: &Version) -> Version {
        let (ma, mi, pa) = (current.major, current.minor, current.patch);
        match self {
            // A pre-release of X.Y.Z is released as X.Y.Z itself.
            Bump::Patch if !current.pre.is_empty() => Version::new(ma, mi, pa),
            Bump::Patch => Version::new(ma, mi, pa + 1),
            Bump::Minor => Version::new(ma, mi + 1, 0),
            Bump::Major => Version::new(ma + 1, 0, 0),
            Bump::To(v) => v.clone(),
        }
    }
}

fn parse(file: &str, text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .with_context(|| format!("{file} is not valid TOML"))
}

/// `[workspace.package] version` of the workspace manifest.
pub fn workspace_version(file: &str, text: &str) -> Result<Version> {
    let doc = parse(file, text)?;
    let v = doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .with_context(|| {
            format!("{file}: no `[workspace.package] version = \"X.Y.Z\"`: the extension's version lives there")
        })?;
    Version::parse(v).with_context(|| {
        format!("{file}: `[workspace.package] version` = `{v}` is not a semantic version (X.Y.Z)")
    })
}

/// The manifest with `[workspace.package] version` set to `new`, its comments and the
/// value's own surrounding whitespace kept.
pub fn set_workspace_version(file: &str, text: &str, new: &Version) -> Result<String> {
    workspace_version(file, text)?;
    let mut doc = parse(file, text)?;
    let item = &mut doc["workspace"]["package"]["version"];
    let decor = item.as_value().map(|v| v.decor().clone());
    let mut value = Value::from(new.to_string());
    if let Some(decor) = decor {
        *value.decor_mut() = decor;
    }
    *item = Item::Value(value);
    Ok(doc.to_string())
}

/// `[workspace] members` of the workspace manifest.
pub fn members(file: &str, text: &str) -> Result<Vec<String>> {
    let doc = parse(file, text)?;
    let members = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(Item::as_array)
        .with_context(|| format!("{file}: no `[workspace] members = [...]`"))?;
    members
        .iter()
        .map(|m| {
            m.as_str().map(str::to_owned).with_context(|| {
                format!("{file}: `[workspace] members` holds `{m}`, expected a path string")
            })
        })
        .collect()
}

/// The package name of a member manifest whose version is the workspace's
/// (`version.workspace = true`); `None` for one with a version of its own.
pub fn inherits_version(file: &str, text: &str) -> Result<Option<String>> {
    let doc = parse(file, text)?;
    let package = doc
        .get("package")
        .with_context(|| format!("{file}: no [package] table"))?;
    let inherits = package
        .get("version")
        .and_then(|v| v.get("workspace"))
        .and_then(Item::as_bool)
        == Some(true);
    let name = package
        .get("name")
        .and_then(Item::as_str)
        .with_context(|| format!("{file}: no `[package] name`"))?;
    Ok(inherits.then(|| name.to_owned()))
}

/// Cargo.lock with the version of each named workspace package moved from `old` to `new`:
/// what cargo itself writes after the bump (`release` checks that with
/// `cargo metadata --locked`). Registry packages of the same name are left alone.
pub fn set_lock_versions(
    file: &str,
    text: &str,
    names: &[String],
    old: &Version,
    new: &Version,
) -> Result<String> {
    let mut doc = parse(file, text)?;
    let Some(packages) = doc
        .get_mut("package")
        .and_then(Item::as_array_of_tables_mut)
    else {
        bail!("{file}: no [[package]] entries");
    };
    let mut found = Vec::new();
    for p in packages.iter_mut() {
        let name = p.get("name").and_then(Item::as_str).unwrap_or_default();
        let local = p.get("source").is_none();
        let at_old = p.get("version").and_then(Item::as_str) == Some(&old.to_string());
        if local && at_old && names.iter().any(|n| n == name) {
            found.push(name.to_owned());
            p["version"] = toml_edit::value(new.to_string());
        }
    }
    for n in names {
        if !found.contains(n) {
            bail!("{file}: no [[package]] `{n}` at version {old}: run `cargo metadata` to bring the lock file up to date, commit it, and release again");
        }
    }
    Ok(doc.to_string())
}

/// labels.json with `key` set to `value`: every other value keeps its text and place (the
/// file is written by hand, with arrays laid out for reading); only `key`'s line changes.
pub fn set_label(file: &str, text: &str, key: &str, value: &str) -> Result<String> {
    let entries = ordered_raw(text)
        .with_context(|| format!("{file}: expected a JSON object of label -> value"))?;
    if !entries.iter().any(|(k, _)| k == key) {
        bail!("{file}: no `{key}` label to replace");
    }
    let lines: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            let v = if k == key {
                serde_json::to_string(value).expect("a string serializes")
            } else {
                v.get().to_owned()
            };
            format!(
                "  {}: {v}",
                serde_json::to_string(k).expect("a string serializes")
            )
        })
        .collect();
    Ok(format!("{{\n{}\n}}\n", lines.join(",\n")))
}

/// The object's members in file order, each value as its original text.
fn ordered_raw(text: &str) -> serde_json::Result<Vec<(String, Box<RawValue>)>> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, Box<RawValue>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = (&mut de).deserialize_map(Ordered)?;
    de.end()?;
    Ok(out)
}

/// A unified diff of one file (`--dry-run`): one hunk from the first changed line to the
/// last, with two lines of context. A release changes each file in one place, so one hunk
/// is exact there; elsewhere it is still a correct, if wider, diff.
pub fn diff(path: &str, old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if head == a.len() && head == b.len() {
        return String::new();
    }
    let start = head.saturating_sub(2);
    let (a_end, b_end) = (a.len() - tail, b.len() - tail);
    let (a_ctx, b_ctx) = ((a_end + 2).min(a.len()), (b_end + 2).min(b.len()));
    let mut out = format!(
        "--- a/{path}\n+++ b/{path}\n@@ -{},{} +{},{} @@\n",
        start + 1,
        a_ctx - start,
        start + 1,
        b_ctx - start
    );
    for l in &a[start..head] {
        out.push_str(&format!(" {l}\n"));
    }
    for l in &a[head..a_end] {
        out.push_str(&format!("-{l}\n"));
    }
    for l in &b[head..b_end] {
        out.push_str(&format!("+{l}\n"));
    }
    for l in &a[a_end..a_ctx] {
        out.push_str(&format!(" {l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    fn read(rel: &str) -> String {
        std::fs::read_to_string(paths::root().join(rel)).unwrap()
    }

    #[test]
    fn bumps() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(Bump::Patch.apply(&v("0.1.0")), v("0.1.1"));
        assert_eq!(Bump::Minor.apply(&v("0.1.3")), v("0.2.0"));
        assert_eq!(Bump::Major.apply(&v("0.1.3")), v("1.0.0"));
        assert_eq!(Bump::Patch.apply(&v("1.0.0-rc.1")), v("1.0.0"));
        assert_eq!(
            Bump::parse("2.0.0-rc.1").unwrap(),
            Bump::To(v("2.0.0-rc.1"))
        );
        let e = Bump::parse("v1.2").unwrap_err();
        assert!(
            e.starts_with("expected patch, minor, major or a version X.Y.Z, found `v1.2`"),
            "{e}"
        );
    }

    #[test]
    fn diff_is_one_hunk_with_context() {
        let d = diff("f", "a\nb\nc\nd\ne\nf\n", "a\nb\nc\nX\nY\ne\nf\n");
        assert_eq!(
            d,
            "--- a/f\n+++ b/f\n@@ -2,5 +2,6 @@\n b\n c\n-d\n+X\n+Y\n e\n f\n"
        );
        assert_eq!(diff("f", "same\n", "same\n"), "");
        let added = diff("f", "", "new\n");
        assert!(added.ends_with("@@ -1,0 +1,1 @@\n+new\n"), "{added}");
    }

    #[test]
    fn bumps_only_the_workspace_version() {
        let text = read("Cargo.toml");
        let old = workspace_version("Cargo.toml", &text).unwrap();
        let new = Version::new(old.major, old.minor, old.patch + 1);
        let out = set_workspace_version("Cargo.toml", &text, &new).unwrap();
        let changed: Vec<(&str, &str)> = text
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            [(
                &*format!("version = \"{old}\""),
                &*format!("version = \"{new}\"")
            )]
        );
        assert_eq!(text.lines().count(), out.lines().count());
    }

    #[test]
    fn lock_moves_workspace_members_only() {
        let root = read("Cargo.toml");
        let old = workspace_version("Cargo.toml", &root).unwrap();
        let mut names = Vec::new();
        for m in members("Cargo.toml", &root).unwrap() {
            let file = format!("{m}/Cargo.toml");
            names.extend(inherits_version(&file, &read(&file)).unwrap());
        }
        assert_eq!(names, ["host-bin", "vm-service"]);
        let lock = read("Cargo.lock");
        let new = Version::parse("9.8.7").unwrap();
        let out = set_lock_versions("Cargo.lock", &lock, &names, &old, &new).unwrap();
        let diff: Vec<_> = lock
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        let old_line = format!("version = \"{old}\"");
        assert_eq!(diff, [(&*old_line, "version = \"9.8.7\""); 2]);
        let err = set_lock_versions("Cargo.lock", &lock, &["nope".into()], &old, &new);
        assert!(format!("{:#}", err.unwrap_err()).contains("no [[package]] `nope`"));
    }

    #[test]
    fn one_label_changes_and_the_rest_keeps_its_text() {
        let text = read("extension/labels.json");
        let key = "com.docker.extension.changelog";
        let current: serde_json::Value = serde_json::from_str(&text).unwrap();
        let same = set_label("labels.json", &text, key, current[key].as_str().unwrap()).unwrap();
        assert_eq!(same, text, "a no-op edit changed the file");
        let out = set_label("labels.json", &text, key, "<p>\"new\" \u{e9}</p>").unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed[key], "<p>\"new\" \u{e9}</p>");
        let diff = text
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diff, 1, "{out}");
        let err = set_label("labels.json", "[1]", key, "x").unwrap_err();
        assert!(format!("{err:#}").contains("labels.json: expected a JSON object"));
    }
}
