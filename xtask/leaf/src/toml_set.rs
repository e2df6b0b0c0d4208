//! Sets one string in a TOML text and keeps every other byte, so `vendor lock` can rewrite
//! the pins of a file the user wrote: comments, order, alignment and line endings stay.
//!
//! Driven by the lines and byte spans [`toml::parse`] records: an existing value is
//! replaced where it stands; a new key goes on a line of its own right after the last key
//! of its table (or into the braces of an inline table); a missing table becomes a
//! `[header]` after the last section of its parent, before whatever comments introduce
//! the next table.

use crate::toml::{self, Error, Kind, Origin, Table, Value};

/// `text` with the string at `path` (`["kubectl", "sha256", "linux-amd64"]`) set to `value`.
pub fn set_string(text: &str, path: &[&str], value: &str) -> Result<String, Error> {
    let root = toml::parse(text)?;
    let Some((last, parents)) = path.split_last() else {
        return Err(Error {
            line: 0,
            message: "no key to set".into(),
        });
    };
    // Follow the tables that exist. `home` is the deepest one not made by dotted keys: a
    // new key is written in its section (or braces), as a dotted key relative to it.
    let mut t = &root;
    let mut home: (&Table, Option<&Value>, usize) = (&root, None, 0);
    let mut found = 0;
    for (i, k) in parents.iter().enumerate() {
        let Some(v) = t.get(k) else { break };
        let Some(sub) = v.as_table() else {
            return Err(not_a(v, &path[..=i], "table"));
        };
        (t, found) = (sub, i + 1);
        if sub.origin != Origin::Dotted {
            home = (sub, Some(v), found);
        }
    }
    if found == parents.len() {
        if let Some(v) = t.get(last) {
            return match v.kind {
                Kind::String(_) => Ok(splice(text, v.span.start, v.span.end, &toml::quote(value))),
                _ => Err(not_a(v, path, "string")),
            };
        }
    }
    let (home, home_value, at) = home;
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let kv = format!("{} = {}", toml::dotted(&path[at..]), toml::quote(value));
    match (home.origin, home_value) {
        (Origin::Inline, Some(v)) if home.is_empty() => {
            let pad = if v.span.len() == 2 { " " } else { "" };
            Ok(splice(
                text,
                v.span.start + 1,
                v.span.start + 1,
                &format!(" {kv}{pad}"),
            ))
        }
        (Origin::Inline, _) => Ok(splice(
            text,
            home.last_end,
            home.last_end,
            &format!(", {kv}"),
        )),
        (Origin::Header | Origin::Root, _) if path.len() - at == 1 || found > at => {
            Ok(insert_after_line(text, t.last_line, &format!("{kv}{nl}")))
        }
        (origin, _) => {
            let section = format!(
                "[{}]{nl}{} = {}{nl}",
                toml::dotted(parents),
                toml::key(last),
                toml::quote(value)
            );
            let after = match origin {
                Origin::Root => usize::MAX,
                _ => family_end(home),
            };
            Ok(insert_after_line(text, after, &section))
        }
    }
}

fn not_a(v: &Value, path: &[&str], what: &str) -> Error {
    Error {
        line: v.line,
        message: format!("`{}` is not a {what}", toml::dotted(path)),
    }
}

/// The last line with a key of `t` or of any table under it (their sections included).
fn family_end(t: &Table) -> usize {
    t.iter()
        .filter_map(|(_, v)| v.as_table())
        .map(family_end)
        .fold(t.last_line, usize::max)
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

/// `new` (whole lines) inserted where line `line + 1` starts; `usize::MAX`: at the end.
fn insert_after_line(text: &str, line: usize, new: &str) -> String {
    let at = match line {
        0 => text.strip_prefix('\u{feff}').map_or(0, |_| 3),
        n => text
            .match_indices('\n')
            .nth(n - 1)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let open_line = at == text.len() && !text.is_empty() && !text.ends_with('\n');
    let new = if open_line {
        format!("{nl}{new}")
    } else {
        new.to_owned()
    };
    splice(text, at, at, &new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, path: &str, value: &str) -> String {
        let path: Vec<&str> = path.split('.').collect();
        let out = set_string(text, &path, value).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        // Idempotent: setting it again changes nothing.
        assert_eq!(set_string(&out, &path, value).unwrap(), out, "{out}");
        out
    }

    #[test]
    fn replaces_in_place_keeping_comments_and_alignment() {
        let text = "# top\n[k]\nversion = '1'  # the version\n[k.sha256]\n# pins\nlinux-amd64  = \"x\" # old\n";
        let out = set(text, "k.version", "2");
        let out = set(&out, "k.sha256.linux-amd64", "y");
        assert_eq!(
            out,
            "# top\n[k]\nversion = \"2\"  # the version\n[k.sha256]\n# pins\nlinux-amd64  = \"y\" # old\n"
        );
    }

    #[test]
    fn new_keys_go_after_the_last_key_of_their_table() {
        // An empty table followed by the next table's comment: right under the header.
        let text = "[k.sha256]\n\n# the next one\n[j]\nversion = \"1\"\n";
        let out = set(text, "k.sha256.darwin-amd64", "a");
        let out = set(&out, "k.sha256.linux-amd64", "b");
        assert_eq!(
            out,
            "[k.sha256]\ndarwin-amd64 = \"a\"\nlinux-amd64 = \"b\"\n\n# the next one\n[j]\nversion = \"1\"\n"
        );
        // After a value spanning lines, before the comments that follow it.
        let text = "[k]\nsmoke = [\n  \"v\",\n]\n# about j\n[j]\n";
        assert_eq!(
            set(text, "k.version", "1"),
            "[k]\nsmoke = [\n  \"v\",\n]\nversion = \"1\"\n# about j\n[j]\n"
        );
        // Root keys, with no table at all yet.
        assert_eq!(set("# c\n", "a", "1"), "a = \"1\"\n# c\n");
        assert_eq!(set("", "a", "1"), "a = \"1\"\n");
    }

    #[test]
    fn a_missing_table_gets_a_header_after_its_parents_sections() {
        let text = "[k]\nversion = \"1\"\n[k.windows]\nurl = \"u\"\n\n# j\n[j]\nversion = \"1\"\n";
        let out = set(text, "k.sha256.linux-amd64", "y");
        assert_eq!(
            out,
            "[k]\nversion = \"1\"\n[k.windows]\nurl = \"u\"\n[k.sha256]\nlinux-amd64 = \"y\"\n\n# j\n[j]\nversion = \"1\"\n"
        );
        // A table only named on the way to another gets its own header.
        let text = "[k.sha256]\nlinux-amd64 = \"x\"\n# j\n[j]\n";
        assert_eq!(
            set(text, "k.version", "1"),
            "[k.sha256]\nlinux-amd64 = \"x\"\n[k]\nversion = \"1\"\n# j\n[j]\n"
        );
        // A new top-level table goes at the end; quoted keys stay quoted.
        assert_eq!(
            set("[j]\n# end", "my tool.sha256.linux-amd64", "y"),
            "[j]\n# end\n[\"my tool\".sha256]\nlinux-amd64 = \"y\"\n"
        );
    }

    #[test]
    fn inline_and_dotted_tables_are_extended_in_their_own_form() {
        let text = "[k]\nsha256 = { linux-amd64 = \"x\" }  # pins\n";
        assert_eq!(
            set(text, "k.sha256.linux-arm64", "y"),
            "[k]\nsha256 = { linux-amd64 = \"x\", linux-arm64 = \"y\" }  # pins\n"
        );
        assert_eq!(
            set("[k]\nsha256 = {}\n", "k.sha256.linux-arm64", "y"),
            "[k]\nsha256 = { linux-arm64 = \"y\" }\n"
        );
        assert_eq!(
            set("k = { version = \"1\" }\n", "k.sha256.linux-arm64", "y"),
            "k = { version = \"1\", sha256.linux-arm64 = \"y\" }\n"
        );
        let text = "[k]\nsha256.linux-amd64 = \"x\"\nurl = \"u\"\n[j]\n";
        assert_eq!(
            set(text, "k.sha256.linux-arm64", "y"),
            "[k]\nsha256.linux-amd64 = \"x\"\nsha256.linux-arm64 = \"y\"\nurl = \"u\"\n[j]\n"
        );
    }

    #[test]
    fn line_endings_and_a_missing_final_newline() {
        assert_eq!(
            set("[k]\r\nv = \"1\"", "k.w", "2"),
            "[k]\r\nv = \"1\"\r\nw = \"2\"\r\n"
        );
        assert_eq!(
            set("[k]\nv = \"1\" # c", "k.sha256.x", "2"),
            "[k]\nv = \"1\" # c\n[k.sha256]\nx = \"2\"\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_set() {
        let e = set_string("[k]\nv = 1\n", &["k", "v"], "2").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "`k.v` is not a string"));
        let e = set_string("k = \"s\"\n", &["k", "v"], "2").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "`k` is not a table"));
        let e = set_string("k = \"s\n", &["k"], "2").unwrap_err();
        assert_eq!(e.line, 1);
    }

    /// On every prefix of the example that parses, a pin can be set, reads back, and
    /// every other value is as it was. (Cuts inside a comment line are left out: the same
    /// document as the cut before the `#`.)
    #[test]
    fn every_parsable_prefix_takes_a_pin() {
        let example = include_str!("../../../extension/vendor.example.toml");
        let path = ["helm", "sha256", "linux-amd64"];
        let mut in_comment = false;
        for (i, c) in example.char_indices() {
            let at_line_start = i == 0 || example.as_bytes()[i - 1] == b'\n';
            if at_line_start {
                in_comment = c == '#';
            } else if in_comment {
                continue;
            }
            let text = &example[..i];
            let Ok(before) = toml::parse(text) else {
                continue;
            };
            let out = set_string(text, &path, "pin").unwrap_or_else(|e| panic!("{text}\n{e}"));
            let after = toml::parse(&out).unwrap_or_else(|e| panic!("{out}\n{e}"));
            let pin = after
                .get("helm")
                .and_then(Value::as_table)
                .and_then(|t| t.get("sha256"))
                .and_then(Value::as_table)
                .and_then(|t| t.get("linux-amd64"))
                .and_then(Value::as_str);
            assert_eq!(pin, Some("pin"), "{out}");
            let kubectl = |t: &Table| t.get("kubectl").map(|v| v.as_table().unwrap().clone());
            assert_eq!(
                kubectl(&before).map(|t| t.iter().count()),
                kubectl(&after).map(|t| t.iter().count())
            );
            assert_eq!(set_string(&out, &path, "pin").unwrap(), out);
        }
    }
}
