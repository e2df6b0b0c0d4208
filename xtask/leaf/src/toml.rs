//! A small TOML reader for the files users write by hand (`extension/vendor.toml`), so the
//! xtask's first build does not compile a full TOML library (`toml_edit` and its parser
//! stack cost ~4 s of a cold build).
//!
//! It reads the part of TOML 1.0 such files use: comments, `[a.b]` tables with bare and
//! quoted keys, dotted keys, basic strings (all TOML 1.0 escapes), literal strings,
//! integers, booleans, arrays (over several lines, trailing comma) and inline tables.
//! Everything else (multi-line strings, floats, dates, `[[arrays of tables]]`) is an error
//! naming the line and what is not supported, never a misread; so are duplicate keys and
//! tables. Every value keeps its line and its bytes in the text, so callers name the line
//! in their own errors and `toml_set` edits one value keeping every other byte.

use std::fmt;
use std::ops::Range;

mod parser;
mod scalar;
#[cfg(test)]
mod tests;

pub use parser::parse;

/// A syntax error, or something outside the supported subset, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Where the value starts (1-based); for a table, its header or first key.
    pub line: usize,
    pub kind: Kind,
    /// The value's bytes in the text (a `[header]` table: the header).
    pub(crate) span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String(String),
    Integer(i64),
    Boolean(bool),
    Array(Vec<Value>),
    Table(Table),
}

/// How a table came to be; decides where `toml_set` may add a key to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Root,
    /// `[a.b]`.
    Header,
    /// Only named on the way to another header (`a` of `[a.b]`); no keys of its own yet.
    Implicit,
    /// By a dotted key, `b` of `b.c = 1`.
    Dotted,
    /// `{ ... }`.
    Inline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// In file order.
    entries: Vec<(String, Value)>,
    pub(crate) origin: Origin,
    /// The last line holding one of this table's keys (a header table: its header line
    /// when it has none); 0 when none.
    pub(crate) last_line: usize,
    /// Where the last value written in this table ends (for inline tables).
    pub(crate) last_end: usize,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self.kind {
            Kind::Integer(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            Kind::Boolean(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.kind {
            Kind::Table(t) => Some(t),
            _ => None,
        }
    }

    fn table(line: usize, origin: Origin, span: Range<usize>) -> Value {
        let last_line = if origin == Origin::Header { line } else { 0 };
        Value {
            line,
            span,
            kind: Kind::Table(Table {
                entries: Vec::new(),
                origin,
                last_line,
                last_end: 0,
            }),
        }
    }

    fn what(&self) -> &'static str {
        match &self.kind {
            Kind::String(_) => "a string",
            Kind::Integer(_) => "an integer",
            Kind::Boolean(_) => "a boolean",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

impl Table {
    fn new(origin: Origin) -> Table {
        Table {
            entries: Vec::new(),
            origin,
            last_line: 0,
            last_end: 0,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Keys and values in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry `key`, added by `make` when absent; `true` when it was there before.
    fn entry(&mut self, key: &str, make: impl FnOnce() -> Value) -> (&mut Value, bool) {
        let (i, existed) = match self.entries.iter().position(|(k, _)| k == key) {
            Some(i) => (i, true),
            None => {
                self.entries.push((key.to_owned(), make()));
                (self.entries.len() - 1, false)
            }
        };
        (&mut self.entries[i].1, existed)
    }

    fn touch(&mut self, line: usize, end: usize) {
        self.last_line = self.last_line.max(line);
        self.last_end = self.last_end.max(end);
    }
}

/// A key path as TOML writes it: `a.b`, quoting keys that are not bare.
pub fn dotted<S: AsRef<str>>(keys: &[S]) -> String {
    keys.iter()
        .map(|k| key(k.as_ref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// One key as TOML writes it: bare when it can be, else a basic string.
pub fn key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(is_bare) {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// A basic string holding `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if forbidden(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What TOML does not allow raw in strings and comments (tab aside, the C0 controls and DEL).
fn forbidden(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\u{7f}'
}

fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
