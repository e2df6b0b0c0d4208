//! The reader on the subset it supports, on every error, and on cut or mangled input.

use super::*;

fn at<'t>(t: &'t Table, path: &str) -> &'t Value {
    let (first, rest) = path.split_once('.').unwrap_or((path, ""));
    let v = t.get(first).unwrap_or_else(|| panic!("no {first}"));
    match rest {
        "" => v,
        rest => at(v.as_table().unwrap(), rest),
    }
}

const SAMPLE: &str = r#"# A comment, then a table.
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
fn reads_the_supported_subset_with_lines() {
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
    // Spans cover the value as written.
    let v = at(&t, "kubectl.version");
    assert_eq!(&SAMPLE[v.span.clone()], "\"1.31.2\"");
}

#[test]
fn crlf_bom_and_no_final_newline() {
    let t = parse("\u{feff}[k]\r\nv = \"1\" # c\r\n\r\nw = 2").unwrap();
    assert_eq!(at(&t, "k.v").as_str(), Some("1"));
    assert_eq!(at(&t, "k.w").line, 4);
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# only a comment").unwrap().is_empty());
}

#[test]
fn every_error_names_its_line_and_what_is_wrong() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "a = \"\"\"x\"\"\"",
            1,
            "multi-line strings (\"\"\") are not supported",
        ),
        (
            "\na = '''x'''",
            2,
            "multi-line strings (''') are not supported",
        ),
        ("a = 1.5", 1, "`1.5`: floats are not supported"),
        ("a = 1e3", 1, "floats are not supported"),
        ("a = -inf", 1, "floats are not supported"),
        ("a = 1979-05-27", 1, "dates and times are not supported"),
        (
            "a = 1979-05-27T07:32:00Z",
            1,
            "dates and times are not supported",
        ),
        ("a = 07:32:00", 1, "dates and times are not supported"),
        (
            "# x\n[[bin]]",
            2,
            "arrays of tables ([[...]]) are not supported",
        ),
        ("a = \"x", 1, "a string has no closing \" on its line"),
        (
            "a = \"x\nb = 1",
            1,
            "a string has no closing \" on its line",
        ),
        ("a = 'x", 1, "a string has no closing ' on its line"),
        ("a = \"\\x41\"", 1, "unknown escape `\\x`"),
        ("a = \"\\u12\"", 1, "`\\u` needs 4 hex digits, found `12\"`"),
        (
            "a = \"\\uD800\"",
            1,
            "`\\uD800` is not a Unicode scalar value",
        ),
        ("a = \"\\U00110000\"", 1, "is not a Unicode scalar value"),
        ("a = \"x\u{1}\"", 1, "control character U+0001 in a string"),
        ("a = 'x\u{7f}'", 1, "control character U+007F in a string"),
        ("# x\u{0}", 1, "control character U+0000 in a comment"),
        ("a = 1\na = 2", 2, "duplicate key `a` (first at line 1)"),
        (
            "[t]\n\"a\" = 1\na = 2",
            3,
            "duplicate key `t.a` (first at line 2)",
        ),
        ("[t]\n[t]", 2, "table [t] defined twice (first at line 1)"),
        (
            "[t.u]\n[t]\n[t]",
            3,
            "table [t] defined twice (first at line 2)",
        ),
        (
            "[t]\nu.v = 1\n[t.u]",
            3,
            "table [t.u] is already defined by the dotted keys at line 2",
        ),
        (
            "t = {}\n[t]",
            2,
            "`t` is an inline table (line 1), which cannot be extended",
        ),
        ("t = { u = 1 }\n[t.v]", 2, "`t` is an inline table (line 1)"),
        (
            "t = 1\n[t.u]",
            2,
            "[t.u]: `t` is already an integer (line 1), not a table",
        ),
        (
            "[t.u]\n[t]\nu.v = 1",
            3,
            "`t.u.v`: the table `t.u` has its own [header] (line 1)",
        ),
        (
            "t = \"s\"\nt.u = 1",
            2,
            "`t.u`: `t` is already a string (line 1), not a table",
        ),
        (
            "t = { u = 1 }\nt.v = 2",
            2,
            "`t.v`: `t` is an inline table (line 1)",
        ),
        (
            "t = { u = { v = 1 }, u.w = 2 }",
            1,
            "`t.u.w`: `t.u` is an inline table",
        ),
        (
            "t = { u = 1, u = 2 }",
            1,
            "duplicate key `t.u` (first at line 1)",
        ),
        (
            "t = { u = 1, }",
            1,
            "a trailing comma is not allowed in the inline table `t`",
        ),
        (
            "t = { u = 1\n}",
            1,
            "the inline table `t` (line 1) must close on its line",
        ),
        (
            "t = { u = 1 v = 2 }",
            1,
            "expected `,` or `}` in the inline table `t`, found `v`",
        ),
        ("t = [1,\n2", 2, "the array `t` (line 1) has no closing `]`"),
        (
            "t = [1 2]",
            1,
            "expected `,` or `]` in the array `t` (line 1), found `2`",
        ),
        ("t = [1, ,]", 1, "expected a value for `t[1]`"),
        ("t =", 1, "expected a value for `t`"),
        ("t = # no value", 1, "expected a value for `t`"),
        (
            "t = yes",
            1,
            "`yes` is not a value; a string needs quotes (\"yes\")",
        ),
        (
            "t = v1.2",
            1,
            "`v1.2` is not a value; a string needs quotes",
        ),
        ("t = 01", 1, "`01` is not a value"),
        ("t = 1__0", 1, "`1__0` is not a value"),
        (
            "t = 99999999999999999999",
            1,
            "does not fit a 64-bit integer",
        ),
        ("t 1", 1, "expected `=` after the key `t`, found `1`"),
        (
            "[s]\nt",
            2,
            "expected `=` after the key `s.t`, found the end of the file",
        ),
        (
            "= 1",
            1,
            "expected a key (letters, digits, `-`, `_`, or a quoted string), found `=`",
        ),
        (
            "[a",
            1,
            "expected `]` to close the table header [a, found the end of the file",
        ),
        ("[a.]", 1, "expected a key"),
        (
            "[a] x",
            1,
            "expected the end of the line after the table header [a], found `x`",
        ),
        (
            "a = 1 2",
            1,
            "expected the end of the line after the value, found `2`",
        ),
        (
            "a = 1\rb = 2",
            1,
            "found a carriage return (\\r) without a newline",
        ),
    ];
    for &(text, line, want) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.message.contains(want), "{text:?}: {e}");
        assert_eq!(e.line, line, "{text:?}: {e}");
    }
}

#[test]
fn keys_and_strings_are_written_back_as_toml() {
    assert_eq!(
        dotted(&["k", "sha256", "linux-amd64"]),
        "k.sha256.linux-amd64"
    );
    assert_eq!(dotted(&["my tool", ""]), "\"my tool\".\"\"");
    let s = "q\" b\\ t\t n\n c\u{1} é";
    assert_eq!(quote(s), "\"q\\\" b\\\\ t\\t n\\n c\\u0001 é\"");
    let t = parse(&format!("{} = {}", key("a b"), quote(s))).unwrap();
    assert_eq!(t.get("a b").unwrap().as_str(), Some(s));
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
