//! The reader's structure: lines, comments, `[headers]`, keys, `key = value`, arrays and
//! inline tables, and TOML's rules on defining each table once. Strings and numbers are
//! in `scalar`.

use super::{dotted, forbidden, is_bare, Error, Kind, Origin, Table, Value};

/// The root table of `text`.
pub fn parse(text: &str) -> Result<Table, Error> {
    let mut p = Parser {
        src: text,
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        line: 1,
    };
    let mut root = Table::new(Origin::Root);
    let mut section: Vec<String> = Vec::new();
    loop {
        p.skip_ws();
        match p.peek() {
            None => return Ok(root),
            Some(b'\n' | b'\r' | b'#') => p.end_of_line(&String::new)?,
            Some(b'[') => section = p.header(&mut root)?,
            Some(_) => {
                let table = section_mut(&mut root, &section).ok_or_else(|| Error {
                    line: p.line,
                    message: format!("internal: table [{}] vanished", dotted(&section)),
                })?;
                p.key_value(table, &|| dotted(&section))?;
                p.end_of_line(&|| " after the value".into())?;
            }
        }
    }
}

fn section_mut<'t>(root: &'t mut Table, path: &[String]) -> Option<&'t mut Table> {
    let mut t = root;
    for k in path {
        t = match &mut t.entries.iter_mut().find(|(e, _)| e == k)?.1.kind {
            Kind::Table(sub) => sub,
            _ => return None,
        };
    }
    Some(t)
}

pub(super) const UNSUPPORTED: &str = "not supported by the xtask's TOML reader";

/// A name for error messages, built only when there is an error.
type Name<'n> = &'n dyn Fn() -> String;

pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) pos: usize,
    pub(super) line: usize,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    pub(super) fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    pub(super) fn err(&self, message: impl Into<String>) -> Error {
        Error {
            line: self.line,
            message: message.into(),
        }
    }

    /// What is at the cursor, for "found ..." in errors.
    pub(super) fn found(&self) -> String {
        match self.rest().chars().next() {
            None => "the end of the file".to_owned(),
            Some('\r') if !self.rest().starts_with("\r\n") => {
                "a carriage return (\\r) without a newline".to_owned()
            }
            Some('\n' | '\r') => "the end of the line".to_owned(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Spaces, an optional comment, then a newline or the end of the file.
    fn end_of_line(&mut self, after: Name<'_>) -> Result<(), Error> {
        self.skip_ws();
        if self.eat(b'#') {
            let rest = self.rest();
            let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
            let comment = line.strip_suffix('\r').unwrap_or(line);
            if let Some(c) = comment.chars().find(|&c| forbidden(c)) {
                return Err(self.err(format!("control character U+{:04X} in a comment", c as u32)));
            }
            self.pos += comment.len();
        }
        if self.peek().is_none() {
            return Ok(());
        }
        let newline = match self.peek() {
            Some(b'\n') => 1,
            Some(b'\r') if self.rest().starts_with("\r\n") => 2,
            _ => 0,
        };
        if newline > 0 {
            self.pos += newline;
            self.line += 1;
            return Ok(());
        }
        Err(self.err(format!(
            "expected the end of the line{}, found {}",
            after(),
            self.found()
        )))
    }

    /// Spaces, comments and newlines, as arrays allow between their values.
    fn skip_blank(&mut self) -> Result<(), Error> {
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'\n' | b'\r' | b'#') => self.end_of_line(&String::new)?,
                _ => return Ok(()),
            }
        }
    }

    /// `[a.b]`: defines the table and returns its path, the section for the next keys.
    fn header(&mut self, root: &mut Table) -> Result<Vec<String>, Error> {
        let (line, start) = (self.line, self.pos);
        self.pos += 1;
        if self.peek() == Some(b'[') {
            return Err(self.err(format!(
                "arrays of tables ([[...]]) are {UNSUPPORTED}; use one [table] each"
            )));
        }
        let path = self.key_path()?;
        if !self.eat(b']') {
            return Err(self.err(format!(
                "expected `]` to close the table header [{}, found {}",
                dotted(&path),
                self.found()
            )));
        }
        let span = start..self.pos;
        let name = dotted(&path);
        self.end_of_line(&|| format!(" after the table header [{name}]"))?;
        let err = |message: String| Error { line, message };
        let mut t = root;
        for (i, k) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let origin = if last {
                Origin::Header
            } else {
                Origin::Implicit
            };
            let (v, existed) = t.entry(k, || Value::table(line, origin, span.clone()));
            let first = v.line;
            let what = v.what();
            let Kind::Table(sub) = &mut v.kind else {
                return Err(err(format!(
                    "[{name}]: `{}` is already {what} (line {first}), not a table",
                    dotted(&path[..=i])
                )));
            };
            match (existed, sub.origin, last) {
                (false, _, _) => {}
                (true, Origin::Inline, _) => {
                    return Err(err(format!(
                    "[{name}]: `{}` is an inline table (line {first}), which cannot be extended",
                    dotted(&path[..=i])
                )))
                }
                // Sub-tables of any table, dotted ones included, may have headers.
                (true, _, false) => {}
                (true, Origin::Implicit, true) => {
                    sub.origin = Origin::Header;
                    sub.last_line = line;
                    v.line = line;
                    v.span = span.clone();
                }
                (true, Origin::Header | Origin::Root, true) => {
                    return Err(err(format!(
                        "table [{name}] defined twice (first at line {first})"
                    )))
                }
                (true, Origin::Dotted, true) => {
                    return Err(err(format!(
                        "table [{name}] is already defined by the dotted keys at line {first}"
                    )))
                }
            }
            t = sub;
        }
        Ok(path)
    }

    /// `a.b."c d"`, with spaces around the dots.
    fn key_path(&mut self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        loop {
            self.skip_ws();
            keys.push(self.simple_key()?);
            self.skip_ws();
            if !self.eat(b'.') {
                return Ok(keys);
            }
        }
    }

    fn simple_key(&mut self) -> Result<String, Error> {
        match self.peek() {
            Some(b'"') => self.basic_string(),
            Some(b'\'') => self.literal_string(),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(is_bare) {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(self.err(format!(
                        "expected a key (letters, digits, `-`, `_`, or a quoted string), found {}",
                        self.found()
                    )));
                }
                Ok(self.src[start..self.pos].to_owned())
            }
        }
    }

    /// `key = value` into `table` (named `prefix` in messages, dotted already); the
    /// caller checks what follows.
    fn key_value(&mut self, table: &mut Table, prefix: Name<'_>) -> Result<(), Error> {
        let line = self.line;
        let keys = self.key_path()?;
        let named = |n: usize| match prefix() {
            p if p.is_empty() => dotted(&keys[..n]),
            p => format!("{p}.{}", dotted(&keys[..n])),
        };
        let name = || named(keys.len());
        if !self.eat(b'=') {
            return Err(self.err(format!(
                "expected `=` after the key `{}`, found {}",
                name(),
                self.found()
            )));
        }
        self.skip_ws();
        let value = self.value(&name)?;
        let (end_line, end) = (self.line, self.pos);
        let err = |message: String| Error { line, message };
        let (last, parents) = keys.split_last().ok_or_else(|| err("empty key".into()))?;
        let mut t = table;
        t.touch(end_line, end);
        for (i, k) in parents.iter().enumerate() {
            let (v, _) = t.entry(k, || Value::table(line, Origin::Dotted, value.span.clone()));
            let (first, what) = (v.line, v.what());
            let (name, here) = (name(), named(i + 1));
            let refused = match &v.kind {
                Kind::Table(sub) if sub.origin == Origin::Dotted => None,
                Kind::Table(sub) if sub.origin == Origin::Inline => Some(format!(
                    "`{name}`: `{here}` is an inline table (line {first}), which cannot be extended"
                )),
                Kind::Table(_) => Some(format!(
                    "`{name}`: the table `{here}` has its own [header] (line {first}); \
                     write the key there"
                )),
                _ => Some(format!(
                    "`{name}`: `{here}` is already {what} (line {first}), not a table"
                )),
            };
            t = match (refused, &mut v.kind) {
                (None, Kind::Table(sub)) => sub,
                (refused, _) => return Err(err(refused.unwrap_or_default())),
            };
            t.touch(end_line, end);
        }
        let (v, existed) = t.entry(last, || value);
        if existed {
            return Err(err(format!(
                "duplicate key `{}` (first at line {})",
                name(),
                v.line
            )));
        }
        Ok(())
    }

    fn value(&mut self, name: Name<'_>) -> Result<Value, Error> {
        let (line, start) = (self.line, self.pos);
        let kind = match self.peek() {
            Some(b'"') => Kind::String(self.basic_string()?),
            Some(b'\'') => Kind::String(self.literal_string()?),
            Some(b'[') => Kind::Array(self.array(name)?),
            Some(b'{') => Kind::Table(self.inline_table(name)?),
            Some(b) if is_bare(b) || b == b'+' || b == b'.' => self.scalar()?,
            _ => {
                return Err(self.err(format!(
                    "expected a value for `{}` (a \"string\", an integer, true, false, \
                     [an array] or {{ an inline table }}), found {}",
                    name(),
                    self.found()
                )))
            }
        };
        Ok(Value {
            line,
            kind,
            span: start..self.pos,
        })
    }

    fn array(&mut self, name: Name<'_>) -> Result<Vec<Value>, Error> {
        let line = self.line;
        self.pos += 1;
        let mut items = Vec::new();
        let unclosed = |p: &Self| {
            p.err(format!(
                "the array `{}` (line {line}) has no closing `]`",
                name()
            ))
        };
        loop {
            self.skip_blank()?;
            if self.eat(b']') {
                return Ok(items);
            }
            if self.peek().is_none() {
                return Err(unclosed(self));
            }
            let i = items.len();
            items.push(self.value(&|| format!("{}[{i}]", name()))?);
            self.skip_blank()?;
            if self.peek().is_none() {
                return Err(unclosed(self));
            }
            if !self.eat(b',') && self.peek() != Some(b']') {
                return Err(self.err(format!(
                    "expected `,` or `]` in the array `{}` (line {line}), found {}",
                    name(),
                    self.found()
                )));
            }
        }
    }

    /// `{ a = 1, b.c = "x" }`, on one line as TOML 1.0 wants (values such as arrays may
    /// still span lines).
    fn inline_table(&mut self, name: Name<'_>) -> Result<Table, Error> {
        let line = self.line;
        self.pos += 1;
        let mut t = Table::new(Origin::Inline);
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(t);
        }
        let open = |p: &Self| {
            let name = name();
            p.err(format!(
                "the inline table `{name}` (line {line}) must close on its line; \
                 use a [{name}] table for more keys"
            ))
        };
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b'\n' | b'\r' | b'#') => return Err(open(self)),
                Some(b'}') => {
                    return Err(self.err(format!(
                        "a trailing comma is not allowed in the inline table `{}`",
                        name()
                    )))
                }
                _ => {}
            }
            self.key_value(&mut t, name)?;
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(t);
            }
            if matches!(self.peek(), None | Some(b'\n' | b'\r' | b'#')) {
                return Err(open(self));
            }
            if !self.eat(b',') {
                return Err(self.err(format!(
                    "expected `,` or `}}` in the inline table `{}`, found {}",
                    name(),
                    self.found()
                )));
            }
        }
    }
}
