//! Strings, integers and booleans; floats and dates are refused by name.

use super::parser::{Parser, UNSUPPORTED};
use super::{forbidden, is_bare, Error, Kind};

impl Parser<'_> {
    /// An integer or a boolean; floats and dates are refused by name.
    pub(super) fn scalar(&mut self) -> Result<Kind, Error> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| is_bare(b) || matches!(b, b'+' | b'.' | b':'))
        {
            self.pos += 1;
        }
        let tok = &self.src[start..self.pos];
        let digits = tok.trim_start_matches(['+', '-']);
        let is_date = (tok.len() >= 5
            && tok.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && tok.as_bytes()[4] == b'-')
            || tok.contains(':');
        let hex = digits.starts_with("0x");
        let is_float = matches!(digits, "inf" | "nan")
            || digits.starts_with(|c: char| c.is_ascii_digit())
                && (digits.contains('.') || !hex && digits.contains(['e', 'E']));
        match tok {
            "true" => Ok(Kind::Boolean(true)),
            "false" => Ok(Kind::Boolean(false)),
            _ if is_date => Err(self.err(format!(
                "`{tok}`: dates and times are {UNSUPPORTED}; write it as a \"string\""
            ))),
            _ if is_float => Err(self.err(format!(
                "`{tok}`: floats are {UNSUPPORTED}; a version is a \"string\" (\"{tok}\")"
            ))),
            _ => integer(tok).map(Kind::Integer).map_err(|m| self.err(m)),
        }
    }

    pub(super) fn basic_string(&mut self) -> Result<String, Error> {
        if self.rest().starts_with("\"\"\"") {
            return Err(self.err(format!(
                "multi-line strings (\"\"\") are {UNSUPPORTED}; write one line with \\n escapes"
            )));
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.unterminated('"'));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                '\n' | '\r' => return Err(self.unterminated('"')),
                c if forbidden(c) => return Err(self.control(c)),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, Error> {
        let Some(c) = self.rest().chars().next() else {
            return Err(self.unterminated('"'));
        };
        self.pos += c.len_utf8();
        let digits = match c {
            'b' => return Ok('\u{8}'),
            't' => return Ok('\t'),
            'n' => return Ok('\n'),
            'f' => return Ok('\u{c}'),
            'r' => return Ok('\r'),
            '"' => return Ok('"'),
            '\\' => return Ok('\\'),
            'u' => 4,
            'U' => 8,
            c => {
                return Err(self.err(format!(
                    "unknown escape `\\{c}` in a string (known: \\b \\t \\n \\f \\r \\\" \\\\ \
                     \\uXXXX \\UXXXXXXXX; or use a 'literal string')"
                )))
            }
        };
        let src = self.src;
        let hex = src[self.pos..].get(..digits).unwrap_or("");
        let code = (hex.len() == digits && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten();
        let Some(code) = code else {
            return Err(self.err(format!(
                "`\\{c}` needs {digits} hex digits, found `{}`",
                self.rest().chars().take(digits).collect::<String>()
            )));
        };
        self.pos += digits;
        char::from_u32(code).ok_or_else(|| {
            self.err(format!(
                "`\\{c}{hex}` is not a Unicode scalar value (a surrogate or above 10FFFF)"
            ))
        })
    }

    pub(super) fn literal_string(&mut self) -> Result<String, Error> {
        if self.rest().starts_with("'''") {
            return Err(self.err(format!(
                "multi-line strings (''') are {UNSUPPORTED}; write one line"
            )));
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.unterminated('\''));
            };
            match c {
                '\'' => {
                    let s = self.src[start..self.pos].to_owned();
                    self.pos += 1;
                    return Ok(s);
                }
                '\n' | '\r' => return Err(self.unterminated('\'')),
                c if forbidden(c) => return Err(self.control(c)),
                c => self.pos += c.len_utf8(),
            }
        }
    }

    fn unterminated(&self, quote: char) -> Error {
        self.err(format!(
            "a string has no closing {quote} on its line (multi-line strings are {UNSUPPORTED})"
        ))
    }

    fn control(&self, c: char) -> Error {
        self.err(format!(
            "control character U+{:04X} in a string; write it as an escape (\\u{:04X})",
            c as u32, c as u32
        ))
    }
}

/// A TOML integer: decimal (no leading zeros), or 0x / 0o / 0b; `_` between digits.
fn integer(tok: &str) -> Result<i64, String> {
    let (radix, body, sign) = match tok.get(..2) {
        Some("0x") => (16, &tok[2..], ""),
        Some("0o") => (8, &tok[2..], ""),
        Some("0b") => (2, &tok[2..], ""),
        _ => match tok.strip_prefix(['+', '-']) {
            Some(rest) => (10, rest, &tok[..1]),
            None => (10, tok, ""),
        },
    };
    let well_formed = !body.is_empty()
        && !body.starts_with('_')
        && !body.ends_with('_')
        && !body.contains("__")
        && body.chars().all(|c| c == '_' || c.is_digit(radix))
        && (radix != 10 || body == "0" || !body.starts_with('0'));
    if !well_formed {
        return Err(format!(
            "`{tok}` is not a value; a string needs quotes (\"{tok}\")"
        ));
    }
    let digits = format!("{sign}{}", body.replace('_', ""));
    i64::from_str_radix(&digits, radix)
        .map_err(|_| format!("`{tok}` does not fit a 64-bit integer"))
}
