//! The little JSON host-bin writes: objects, arrays, strings, whole numbers and booleans,
//! printed compactly in the order given. Written by hand because the binary ships six
//! times in every image and only ever emits JSON: serde_json was two thirds of its compile
//! time for every target and most of its size.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Str(String),
    Num(u64),
    Bool(bool),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Str(s) => write_str(f, s),
            Json::Num(n) => write!(f, "{n}"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Obj(fields) => {
                f.write_str("{")?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_str(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A JSON string (RFC 8259 section 7): quote, backslash and control characters escaped;
/// everything else, non-ASCII included, as is (the output is UTF-8).
fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_in_order() {
        let v = Json::Obj(vec![
            ("b", Json::Num(1)),
            ("a", Json::Arr(vec![Json::Bool(true), Json::str("x")])),
            ("e", Json::Arr(vec![])),
        ]);
        assert_eq!(v.to_string(), r#"{"b":1,"a":[true,"x"],"e":[]}"#);
    }

    #[test]
    fn strings_are_escaped_and_parse_back() {
        let nasty = "quote\" back\\slash\nnew\ttab\u{1}ctl é 名 🚀";
        let text = Json::Obj(vec![("s", Json::str(nasty))]).to_string();
        assert_eq!(
            text,
            "{\"s\":\"quote\\\" back\\\\slash\\nnew\\ttab\\u0001ctl é 名 🚀\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["s"], nasty);
    }

    #[test]
    fn every_control_character_round_trips() {
        let all: String = (0u8..0x20).map(char::from).chain(['\u{7f}']).collect();
        let parsed: serde_json::Value =
            serde_json::from_str(&Json::str(all.clone()).to_string()).unwrap();
        assert_eq!(parsed, serde_json::Value::String(all));
    }
}
