//! The tree `parse` builds from toml_edit's document: values, their lines (the xtask's
//! errors name them), syntax errors, and cut or mangled input.

use super::*;

fn at<'t>(t: &'t Table, path: &str) -> &'t Value {
    let (first, rest) = path.split_once('.').unwrap_or((path, ""));
    let v = t.get(first).unwrap_or_else(|| panic!("no {first}"));
    match rest {
        "" => v,
        rest => at(v.as_table().unwrap(), rest),
    }
}

pub(super) const SAMPLE: &str = r#"# A comment, then a table.
[kubectl]
version = "1.31.2"   # trailing comment
"quoted key" = 'C:\literal\path'
escapes = "tab\t quote\" backslash\\ nl\n e\u00e9 \U0001F600"
count = 1_000
hex = 0xff
oct = 0o17
bin = 0b101
neg = -42
yes = true
no = false
smoke = [
  "version",   # a comment in an array
  "--client",
]
empty = []
nested = [[1, 2], ["a"]]
sha256 = { linux-amd64 = "x", "darwin-arm64" = 'y' }
site.name.first = "dotted"
site.name.last = "keys"

[ helm . "sub table" ]
key = "v"

[a.b.c]
d = 1
[a]
e = 2
[kubectl.site.more]
f = 3
"#;

#[test]
fn reads_values_with_their_lines() {
    let t = parse(SAMPLE).unwrap();
    let names: Vec<&str> = t.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["kubectl", "helm", "a"]);
    assert_eq!(at(&t, "kubectl").line, 2);
    assert_eq!(at(&t, "kubectl.version").as_str(), Some("1.31.2"));
    assert_eq!(at(&t, "kubectl.version").line, 3);
    assert_eq!(
        at(&t, "kubectl.quoted key").as_str(),
        Some("C:\\literal\\path")
    );
    assert_eq!(
        at(&t, "kubectl.escapes").as_str(),
        Some("tab\t quote\" backslash\\ nl\n e\u{e9} \u{1F600}")
    );
    let ints = ["count", "hex", "oct", "bin", "neg"]
        .map(|k| at(&t, &format!("kubectl.{k}")).as_integer().unwrap());
    assert_eq!(ints, [1000, 255, 15, 5, -42]);
    assert_eq!(at(&t, "kubectl.yes").as_bool(), Some(true));
    assert_eq!(at(&t, "kubectl.no").as_bool(), Some(false));
    let smoke = at(&t, "kubectl.smoke").as_array().unwrap();
    let args: Vec<(&str, usize)> = smoke
        .iter()
        .map(|v| (v.as_str().unwrap(), v.line))
        .collect();
    assert_eq!(args, [("version", 14), ("--client", 15)]);
    assert!(at(&t, "kubectl.empty").as_array().unwrap().is_empty());
    assert_eq!(at(&t, "kubectl.nested").as_array().unwrap().len(), 2);
    let pins = at(&t, "kubectl.sha256").as_table().unwrap();
    assert_eq!(pins.get("darwin-arm64").unwrap().as_str(), Some("y"));
    assert_eq!(pins.get("linux-amd64").unwrap().line, 19);
    assert_eq!(at(&t, "kubectl.site.name.last").as_str(), Some("keys"));
    assert_eq!(at(&t, "kubectl.site.more.f").as_integer(), Some(3));
    assert_eq!(at(&t, "helm.sub table.key").line, 24);
    // [a] after [a.b.c]: the implicit table defined once, in file order.
    assert_eq!(at(&t, "a").line, 28);
    assert_eq!(at(&t, "a.b.c.d").as_integer(), Some(1));
    let a: Vec<&str> = at(&t, "a")
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(a, ["b", "e"]);
}

#[test]
fn crlf_bom_and_no_final_newline() {
    let t = parse("\u{feff}[k]\r\nv = \"1\" # c\r\n\r\nw = 2").unwrap();
    assert_eq!(at(&t, "k.v").as_str(), Some("1"));
    assert_eq!(at(&t, "k.w").line, 4);
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# only a comment").unwrap().is_empty());
}

/// What the reader of old refused (multi-line strings, floats, dates, arrays of tables)
/// is TOML 1.0, and read with its lines.
#[test]
fn reads_the_rest_of_toml_1_0() {
    let text = r#"s = """
first
second \
  joined"""
lit = '''C:\no\escapes
'''
f = [1.5, -0.0, 1e3, inf]
dates = [1979-05-27, 1979-05-27T07:32:00Z, 07:32:00, 1979-05-27T00:32:00.999999-07:00]
[[bin]]   # an array of tables
name = "a"

# between them
[[bin]]
name = "b"
[bin.sub]
x = 1
"#;
    let t = parse(text).unwrap();
    assert_eq!(at(&t, "s").as_str(), Some("first\nsecond joined"));
    assert_eq!(at(&t, "s").line, 1);
    assert_eq!(at(&t, "lit").as_str(), Some("C:\\no\\escapes\n"));
    assert_eq!(at(&t, "lit").line, 5);
    let floats: Vec<f64> = at(&t, "f")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v.kind {
            Kind::Float(f) => f,
            _ => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(floats, [1.5, -0.0, 1000.0, f64::INFINITY]);
    assert_eq!(at(&t, "f").type_name(), "an array");
    assert_eq!(at(&t, "f").as_array().unwrap()[0].type_name(), "a float");
    let dates: Vec<&str> = at(&t, "dates")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match &v.kind {
            Kind::Datetime(d) => d.as_str(),
            _ => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(
        dates,
        [
            "1979-05-27",
            "1979-05-27T07:32:00Z",
            "07:32:00",
            "1979-05-27T00:32:00.999999-07:00"
        ]
    );
    let bins = at(&t, "bin").as_array().unwrap();
    let names: Vec<(Option<&str>, usize)> = bins
        .iter()
        .map(|b| (b.as_table().unwrap().get("name").unwrap().as_str(), b.line))
        .collect();
    assert_eq!(names, [(Some("a"), 9), (Some("b"), 13)]);
    let sub = bins[1].as_table().unwrap().get("sub").unwrap();
    assert_eq!((sub.line, sub.type_name()), (15, "a table"));
}

#[test]
fn syntax_errors_carry_toml_edit_s_message_and_where() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("a = 1\na = 2", (2, 1), "duplicate key: `a`"),
        ("[t]\nx = 1\n\n[t]", (4, 2), "duplicate key: `t`"),
        ("a = \"x\nb = 1", (1, 7), "invalid basic string"),
        ("a = \"\"\"never closed", (1, 20), ""),
        ("t = yes", (1, 5), "string values must be quoted"),
        ("t = { u = 1\n\n  v = \"é\" w }", (3, 3), "missing comma"),
        ("[a", (1, 3), ""),
    ];
    for &(text, (line, column), want) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.message.contains(want), "{text:?}: {e}");
        assert!(!e.message.contains('\n'), "{text:?}: {e}");
        assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
    }
}

/// Cut anywhere, or with one character replaced by something TOML cares about, the
/// reader answers (a table or an error) and never panics.
#[test]
fn prefixes_and_mutations_never_panic() {
    let example = include_str!("../../../../extension/vendor.example.toml");
    for text in [SAMPLE, example] {
        for (i, _) in text.char_indices() {
            let _ = parse(&text[..i]);
        }
    }
    let specials = [
        "\"", "'", "[", "{", "}", "=", ".", "\n", "\r", "\\", "é", "\"\"\"",
    ];
    for (i, c) in SAMPLE.char_indices() {
        for s in specials {
            let text = format!("{}{s}{}", &SAMPLE[..i], &SAMPLE[i + c.len_utf8()..]);
            let _ = parse(&text);
        }
    }
}
