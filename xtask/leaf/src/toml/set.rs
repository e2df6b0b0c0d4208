//! Sets one string through `toml_edit`, so `vendor lock` rewrites the pins of a file the
//! user wrote and nothing else: comments, order, alignment, quoting and line endings of
//! every untouched line stay. An existing value is replaced where it stands, keeping the
//! comment after it; a new key goes after the last key of its table (before the comments
//! that introduce the next table), or into the braces of an inline table, or beside its
//! siblings as a dotted key; a missing table becomes a `[header]` after its parent's last
//! section.

use toml_edit::{Document, InlineTable, Item, Table, TableLike};

use super::{syntax, Error};

/// `text` with the string at `path` (`["kubectl", "sha256", "linux-amd64"]`) set to `value`.
pub fn set_string(text: &str, path: &[&str], value: &str) -> Result<String, Error> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::at(text, 0, "no key to set".into()));
    };
    // toml_edit reads a byte-order mark but does not write it back: keep it aside.
    let (bom, text) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    // toml_edit writes the lines it adds with `\n`: a file that uses `\r\n` throughout is
    // edited as `\n` and turned back, so its new lines match the others. (A file mixing
    // both gets toml_edit's `\n` after its `[headers]`: it does not keep their ending.)
    let crlf = text.contains("\r\n") && !text.replace("\r\n", "").contains('\n');
    let lf;
    let text = if crlf {
        lf = text.replace("\r\n", "\n");
        &lf
    } else {
        text
    };
    let doc = Document::parse(text).map_err(|e| syntax(text, &e))?;
    check(text, doc.as_table(), path)?;
    let mut doc = doc.into_mut();
    let mut cur: &mut Item = doc.as_item_mut();
    // `check` saw every existing parent is a table: no `unreachable` below is reached.
    for k in parents {
        if cur.get(k).is_none() {
            let child = child_of(cur);
            insert(cur, k, child).ok_or_else(|| unreachable(text))?;
        }
        cur = cur.get_mut(k).ok_or_else(|| unreachable(text))?;
    }
    match cur.get_mut(last) {
        Some(Item::Value(v)) => {
            // The new string in the old one's place, with the spaces and comment around it.
            let decor = v.decor().clone();
            *v = value.into();
            *v.decor_mut() = decor;
        }
        _ => insert(cur, last, toml_edit::value(value)).ok_or_else(|| unreachable(text))?,
    }
    let out = doc.to_string();
    let out = if crlf { out.replace('\n', "\r\n") } else { out };
    Ok(format!("{bom}{out}"))
}

/// The error for `path` in `root` (read with spans, so it names the line), if any: a
/// parent that is not a table, or a value that is not a string.
fn check(text: &str, root: &Table, path: &[&str]) -> Result<(), Error> {
    let mut t: &dyn TableLike = root;
    for (i, k) in path.iter().enumerate() {
        let Some((key, item)) = t.get_key_value(k) else {
            return Ok(());
        };
        let at = item.span().or_else(|| key.span()).map_or(0, |s| s.start);
        let name = path[..=i].join(".");
        if i + 1 == path.len() {
            if item.as_str().is_none() {
                return Err(Error::at(text, at, format!("`{name}` is not a string")));
            }
        } else {
            t = item
                .as_table_like()
                .ok_or_else(|| Error::at(text, at, format!("`{name}` is not a table")))?;
        }
    }
    Ok(())
}

/// `new` as `parent`'s last entry; `None` when `parent` is not a table. In `{ ... }`, the
/// entry before it hands it the spaces before `}` (toml_edit would put the comma after
/// them: `{ a = 1 , b = 2 }`).
fn insert(parent: &mut Item, key: &str, new: Item) -> Option<()> {
    if let (Item::Value(toml_edit::Value::InlineTable(t)), Item::Value(new)) = (&mut *parent, &new)
    {
        let mut new = new.clone();
        if let Some((_, last)) = t.iter_mut().last() {
            let suffix = last.decor().suffix().cloned();
            last.decor_mut().set_suffix("");
            new = new.decorated(" ", suffix.unwrap_or_else(|| " ".into()));
        }
        t.insert(key, new);
        return Some(());
    }
    parent.as_table_like_mut()?.insert(key, new);
    Some(())
}

fn unreachable(text: &str) -> Error {
    Error::at(text, 0, "a table changed while being edited (a bug)".into())
}

/// A new table under `parent`, in its parent's form: dotted keys inside braces or beside
/// dotted keys, else a `[header]` shown only once it holds a value of its own.
fn child_of(parent: &Item) -> Item {
    match parent {
        Item::Value(_) => {
            let mut t = InlineTable::new();
            t.set_dotted(true);
            Item::Value(t.into())
        }
        Item::Table(p) if p.is_dotted() => {
            let mut t = Table::new();
            t.set_dotted(true);
            Item::Table(t)
        }
        _ => {
            let mut t = Table::new();
            t.set_implicit(true);
            // Right under the section before it, as the user's own tables are: toml_edit's
            // default is a blank line first.
            t.decor_mut().set_prefix("");
            Item::Table(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml::{self, Table, Value};

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
        // A table only named on the way to another gets its own header, where it was
        // first named.
        let text = "[k.sha256]\nlinux-amd64 = \"x\"\n# j\n[j]\n";
        assert_eq!(
            set(text, "k.version", "1"),
            "[k]\nversion = \"1\"\n[k.sha256]\nlinux-amd64 = \"x\"\n# j\n[j]\n"
        );
        // A new top-level table goes at the end; quoted keys stay quoted.
        // (The comments after the last table stay the file's last lines.)
        assert_eq!(
            set("[j]\n# end", "my tool.sha256.linux-amd64", "y"),
            "[j]\n[\"my tool\".sha256]\nlinux-amd64 = \"y\"\n# end"
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

    /// toml_edit writes back what it read: odd spacing in headers, quoted keys, literal
    /// strings, dotted keys, comments in arrays; only the value set changes.
    #[test]
    fn every_other_byte_stays() {
        let sample = crate::toml::tests::SAMPLE;
        assert_eq!(
            set(sample, "kubectl.version", "2"),
            sample.replace("version = \"1.31.2\"", "version = \"2\"")
        );
        let example = include_str!("../../../../extension/vendor.example.toml");
        let pin = "[helm.sha256]\nlinux-amd64 = \"pin\"\n";
        assert_eq!(
            set(example, "helm.sha256.linux-amd64", "pin"),
            example.replace("[helm.sha256]\n", pin)
        );
    }

    #[test]
    fn line_endings_and_a_missing_final_newline() {
        // A byte-order mark stays.
        assert_eq!(
            set("\u{feff}[k]\nv = \"1\"\n", "k.v", "2"),
            "\u{feff}[k]\nv = \"2\"\n"
        );
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
        let example = include_str!("../../../../extension/vendor.example.toml");
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
