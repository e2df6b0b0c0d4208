//! TOML through `toml_edit`, the reader and editor cargo itself uses (all of TOML 1.0;
//! edits keep every comment and every untouched byte), behind two small functions the
//! xtask needs: [`parse`] gives a plain tree of values, each knowing the line it starts
//! on, so callers name the line in their own errors (`vendor.toml`'s schema problems);
//! [`set_string`] sets one string and leaves the rest of the file as the user wrote it
//! (`vendor lock`'s pins). A later edit of Cargo.toml (`release`) uses `toml_edit`
//! directly (a workspace dependency, so both share one build of it).

use std::fmt;

use toml_edit::{Document, Item, Key, TableLike};

mod set;
#[cfg(test)]
mod tests;

pub use set::set_string;

/// A syntax error (toml_edit's message), or a value `set_string` cannot set, at a 1-based
/// line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Error {}

impl Error {
    pub(crate) fn at(text: &str, offset: usize, message: String) -> Error {
        let (line, column) = line_column(text, offset);
        Error {
            line,
            column,
            message,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Where the value starts (1-based); a table: its `[header]`, or the key naming it.
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// Any TOML date, time or date-time, as TOML writes it (`2024-05-06`).
    Datetime(String),
    /// An array, or an array of tables (`[[name]]`, each a `Table`).
    Array(Vec<Value>),
    /// A `[header]` table, an inline `{ ... }` one, or one made by dotted keys.
    Table(Table),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// In file order.
    entries: Vec<(String, Value)>,
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

    /// For messages: `must be a string, not a float`.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::String(_) => "a string",
            Kind::Integer(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Boolean(_) => "a boolean",
            Kind::Datetime(_) => "a date or time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

impl Table {
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
}

/// The document `text` as a tree of values with lines. A syntax error carries
/// toml_edit's message and where it points.
pub fn parse(text: &str) -> Result<Table, Error> {
    let doc = Document::parse(text).map_err(|e| syntax(text, &e))?;
    Ok(table(text, doc.as_table(), 1))
}

/// `e` at its line and column, on one line: toml_edit's message, and the text it points
/// at when that is short (its message alone says "duplicate key", not which).
pub(crate) fn syntax(text: &str, e: &toml_edit::TomlError) -> Error {
    let span = e.span().unwrap_or(text.len()..text.len());
    let mut message = e.message().replace('\n', "; ");
    if let Some(at) = text.get(span.clone()) {
        if !at.is_empty() && at.len() <= 40 && !at.contains(['\n', '\r']) {
            message = format!("{message}: `{at}`");
        }
    }
    Error::at(text, span.start, message)
}

/// 1-based line and column (in characters) of the byte `offset`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (before.matches('\n').count() + 1, column)
}

/// `t`'s entries; `line`: where `t` is, for what has no span of its own.
fn table(text: &str, t: &dyn TableLike, line: usize) -> Table {
    let entries = t
        .iter()
        .filter_map(|(name, item)| {
            let key = t.key(name);
            Some((name.to_owned(), self::item(text, key, item, line)?))
        })
        .collect();
    Table { entries }
}

/// `item`'s value; its line from its own span, else its key's (a table made by dotted
/// keys, or only named in another's header, has no span), else `near`.
fn item(text: &str, key: Option<&Key>, item: &Item, near: usize) -> Option<Value> {
    let line = item
        .span()
        .or_else(|| key.and_then(Key::span))
        .map_or(near, |s| line_column(text, s.start).0);
    let kind = match item {
        Item::None => return None,
        Item::Value(v) => return Some(value(text, v, line)),
        Item::Table(t) => Kind::Table(table(text, t, line)),
        Item::ArrayOfTables(a) => Kind::Array(
            a.iter()
                .map(|t| {
                    let line = t.span().map_or(line, |s| line_column(text, s.start).0);
                    Value {
                        line,
                        kind: Kind::Table(table(text, t, line)),
                    }
                })
                .collect(),
        ),
    };
    Some(Value { line, kind })
}

fn value(text: &str, v: &toml_edit::Value, near: usize) -> Value {
    use toml_edit::Value as V;
    let line = v.span().map_or(near, |s| line_column(text, s.start).0);
    let kind = match v {
        V::String(s) => Kind::String(s.value().clone()),
        V::Integer(i) => Kind::Integer(*i.value()),
        V::Float(f) => Kind::Float(*f.value()),
        V::Boolean(b) => Kind::Boolean(*b.value()),
        V::Datetime(d) => Kind::Datetime(d.value().to_string()),
        V::Array(a) => Kind::Array(a.iter().map(|v| value(text, v, line)).collect()),
        V::InlineTable(t) => Kind::Table(table(text, t, line)),
    };
    Value { line, kind }
}
