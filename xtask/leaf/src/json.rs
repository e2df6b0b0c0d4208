//! Reading JSON by hand, over serde_json's `Value`, with errors that say where the value
//! is (`` `ui.tab.root`: invalid type: expected a string, found 3 ``).
//!
//! Instead of serde's derive: it was a proc macro (2 s, and syn's 3 s with clap's) in
//! every cold build of the xtask, for a dozen small structs. A leaf: nothing from the crate.

use anyhow::{anyhow, Result};
use serde_json::{Map, Value};

/// `at.key`, or `key` at the top level.
pub fn at(at: &str, key: &str) -> String {
    match at {
        "" => key.to_owned(),
        _ => format!("{at}.{key}"),
    }
}

fn located(at: &str, message: String) -> anyhow::Error {
    match at {
        "" => anyhow!(message),
        _ => anyhow!("`{at}`: {message}"),
    }
}

fn invalid(v: &Value, at: &str, expected: &str) -> anyhow::Error {
    let found = match v {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        _ => v.to_string(),
    };
    located(
        at,
        format!("invalid type: expected {expected}, found {found}"),
    )
}

pub fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| invalid(v, at, "an object"))
}

pub fn array<'a>(v: &'a Value, at: &str) -> Result<&'a [Value]> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| invalid(v, at, "an array"))
}

pub fn string<'a>(v: &'a Value, at: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| invalid(v, at, "a string"))
}

/// The field `key` of the object `v` (found at `at`), `None` if it is missing or null.
pub fn optional<'a>(v: &'a Value, at: &str, key: &str) -> Result<Option<&'a Value>> {
    Ok(object(v, at)?.get(key).filter(|f| !f.is_null()))
}

/// The field `key` of the object `v`; an error if it is missing.
pub fn required<'a>(v: &'a Value, at: &str, key: &str) -> Result<&'a Value> {
    optional(v, at, key)?.ok_or_else(|| located(at, format!("missing field `{key}`")))
}

pub fn required_string(v: &Value, at: &str, key: &str) -> Result<String> {
    string(required(v, at, key)?, &self::at(at, key)).map(str::to_owned)
}

pub fn optional_string(v: &Value, at: &str, key: &str) -> Result<Option<String>> {
    let Some(f) = optional(v, at, key)? else {
        return Ok(None);
    };
    string(f, &self::at(at, key)).map(|s| Some(s.to_owned()))
}

/// The object `v`'s entries, each value read by `read` (given its location).
pub fn entries<T>(
    v: &Value,
    at: &str,
    mut read: impl FnMut(&Value, &str) -> Result<T>,
) -> Result<Vec<(String, T)>> {
    object(v, at)?
        .iter()
        .map(|(k, v)| Ok((k.clone(), read(v, &self::at(at, k))?)))
        .collect()
}

/// The array `v`'s elements, each read by `read` (given its location, `at[i]`).
pub fn elements<T>(
    v: &Value,
    at: &str,
    mut read: impl FnMut(&Value, &str) -> Result<T>,
) -> Result<Vec<T>> {
    array(v, at)?
        .iter()
        .enumerate()
        .map(|(i, v)| read(v, &format!("{at}[{i}]")))
        .collect()
}

/// An error for the first key of the object `v` not in `known`, as serde's
/// `deny_unknown_fields` gave.
pub fn deny_unknown(v: &Value, at: &str, known: &[&str]) -> Result<()> {
    let Some(key) = object(v, at)?.keys().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    Err(located(
        at,
        format!(
            "unknown field `{key}`, expected one of {}",
            expected.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_location_and_what_was_expected() {
        let v = json!({"ui": {"tab": {"root": 3}}, "list": [1, "x"]});
        let tab = &v["ui"]["tab"];
        let e = required_string(tab, "ui.tab", "root").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`ui.tab.root`: invalid type: expected a string, found 3"
        );
        let e = required(tab, "ui.tab", "src").unwrap_err();
        assert_eq!(e.to_string(), "`ui.tab`: missing field `src`");
        let e = required(&v, "", "icon").unwrap_err();
        assert_eq!(e.to_string(), "missing field `icon`");
        let e = elements(&v["list"], "list", |x, at| string(x, at).map(str::to_owned));
        assert_eq!(
            e.unwrap_err().to_string(),
            "`list[0]`: invalid type: expected a string, found 1"
        );
        let e = deny_unknown(&v, "", &["ui"]).unwrap_err();
        assert_eq!(e.to_string(), "unknown field `list`, expected one of `ui`");
        assert_eq!(optional_string(&json!({"a": null}), "", "a").unwrap(), None);
        let e = optional(&json!([]), "vm", "image").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`vm`: invalid type: expected an object, found an array"
        );
    }
}
