//! CHANGELOG.md in Keep a Changelog form (https://keepachangelog.com/en/1.1.0/): its
//! `## Unreleased` section, moved under a version by `release`, and rendered to the HTML the
//! `com.docker.extension.changelog` label carries (the Marketplace's "What's new").
//!
//! Read with pulldown-cmark, not line by line: a `## ` inside a code block or an HTML
//! comment is no heading, and the offsets it gives are the file's own bytes.

use std::ops::Range;

use anyhow::{bail, Result};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// One `## ` section: the heading's text, and the bytes of its heading line and body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    title: String,
    /// From the `#` of the heading to the end of its line (newline included).
    heading: Range<usize>,
    /// From after the heading line to the next `## ` heading, or the end of the file.
    body: Range<usize>,
}

/// Every level-2 section of `text`, in order.
fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut title: Option<(String, usize)> = None;
    for (event, range) in Parser::new_ext(text, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => title = Some((String::new(), range.start)),
            Event::Text(t) | Event::Code(t) if title.is_some() => {
                title.as_mut().unwrap().0.push_str(&t);
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                let (t, start) = title.take().unwrap_or_default();
                let end = line_end(text, range.end);
                if let Some(prev) = out.last_mut() {
                    prev.body.end = start;
                }
                out.push(Section {
                    title: t.trim().to_owned(),
                    heading: start..end,
                    body: end..text.len(),
                });
            }
            _ => {}
        }
    }
    out
}

/// The offset just past the newline that ends the line holding `at - 1`.
fn line_end(text: &str, at: usize) -> usize {
    if at > 0 && text.as_bytes()[at - 1] == b'\n' {
        return at;
    }
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

/// `Unreleased` or `[Unreleased]` (the form that links to a comparison), any case.
fn is_unreleased(title: &str) -> bool {
    title
        .trim_start_matches('[')
        .trim_end_matches(']')
        .eq_ignore_ascii_case("unreleased")
}

/// Whether a piece of Markdown holds at least one list item: an entry, in Keep a
/// Changelog's terms (a section with only `### Added` headings has none).
fn has_entries(markdown: &str) -> bool {
    Parser::new(markdown).any(|e| matches!(e, Event::Start(Tag::Item)))
}

/// The Markdown of the `## Unreleased` section's body; an error naming the file and what is
/// missing when there is no such section or it has no entries.
pub fn unreleased<'a>(file: &str, text: &'a str) -> Result<&'a str> {
    let all = sections(text);
    let Some(s) = all.iter().find(|s| is_unreleased(&s.title)) else {
        bail!(
            "{file}: no `## Unreleased` section: write what changed there, as list items under \
             `### Added`, `### Changed`, `### Fixed`... (https://keepachangelog.com/en/1.1.0/)"
        );
    };
    let body = &text[s.body.clone()];
    if !has_entries(body) {
        bail!(
            "{file}: `## Unreleased` has no entries: a release needs at least one list item there \
             saying what changed"
        );
    }
    Ok(body)
}

/// The file with the Unreleased entries moved under `## VERSION - DATE`, right below an
/// emptied `## Unreleased` heading (kept for the next round), and that section's body.
pub fn release(file: &str, text: &str, version: &str, date: &str) -> Result<(String, String)> {
    let body = unreleased(file, text)?;
    let s = sections(text)
        .into_iter()
        .find(|s| is_unreleased(&s.title))
        .expect("unreleased() found it");
    let entries = format!("{}\n", body.trim_matches('\n'));
    let mut out = String::with_capacity(text.len() + 40);
    out.push_str(&text[..s.heading.end]);
    out.push_str(&format!("\n## {version} - {date}\n\n{entries}"));
    let rest = &text[s.body.end..];
    if !rest.is_empty() {
        out.push('\n');
        out.push_str(rest);
    }
    Ok((out, entries))
}

/// The section's Markdown as the label's HTML. Raw HTML in the Markdown is shown as text,
/// never passed through: the label is HTML that Docker Desktop renders. Soft line breaks
/// become spaces and the newlines between block tags go, so the label is one line (the
/// Dockerfile's LABEL would turn them into spaces anyway: see labels::dockerfile).
pub fn to_html(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).map(|e| match e {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::SoftBreak => Event::Text(" ".into()),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html.replace(">\n", ">").trim().to_owned()
}

/// Today's date in UTC as YYYY-MM-DD (the form Keep a Changelog uses).
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::workspace::civil_date(secs / 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# Changelog\n\nIntro.\n\n## Unreleased\n\n### Added\n- New `thing`.\n\n\
                        ```\n## not a heading\n```\n\n## 0.1.0 - 2026-11-30\n\n### Added\n- First.\n";

    #[test]
    fn finds_sections_and_ignores_headings_in_code() {
        let titles: Vec<String> = sections(TEXT).into_iter().map(|s| s.title).collect();
        assert_eq!(titles, ["Unreleased", "0.1.0 - 2026-11-30"]);
        let body = unreleased("CHANGELOG.md", TEXT).unwrap();
        assert!(
            body.contains("## not a heading") && !body.contains("First"),
            "{body}"
        );
    }

    #[test]
    fn release_moves_entries_below_an_empty_unreleased() {
        let (out, entries) = release("CHANGELOG.md", TEXT, "0.1.1", "2026-12-07").unwrap();
        assert!(out.starts_with(
            "# Changelog\n\nIntro.\n\n## Unreleased\n\n## 0.1.1 - 2026-12-07\n\n### Added\n- New `thing`.\n"
        ), "{out}");
        assert!(
            out.ends_with("```\n\n## 0.1.0 - 2026-11-30\n\n### Added\n- First.\n"),
            "{out}"
        );
        assert!(
            entries.starts_with("### Added\n- New `thing`."),
            "{entries}"
        );
        // The released file has nothing left to release.
        let err = unreleased("CHANGELOG.md", &out).unwrap_err().to_string();
        assert!(err.contains("`## Unreleased` has no entries"), "{err}");
    }

    #[test]
    fn refusals_name_the_file_and_what_is_missing() {
        let none = unreleased("CHANGELOG.md", "# Changelog\n\n## 0.1.0\n- x\n").unwrap_err();
        assert!(
            none.to_string()
                .starts_with("CHANGELOG.md: no `## Unreleased` section"),
            "{none}"
        );
        let empty = unreleased("C.md", "## [Unreleased]\n\n### Added\n\n## 0.1.0\n- x\n");
        assert!(format!("{:#}", empty.unwrap_err()).contains("has no entries"));
        // The last section runs to the end of the file.
        assert_eq!(
            unreleased("C.md", "## Unreleased\n- only\n").unwrap(),
            "- only\n"
        );
    }

    #[test]
    fn html_escapes_raw_html_and_is_one_line() {
        let html = to_html("### Fixed\n- A <script>alert(1)</script> tag\n  over two lines.\n- <b>bold</b> & `code`\n");
        assert_eq!(
            html,
            "<h3>Fixed</h3><ul><li>A &lt;script&gt;alert(1)&lt;/script&gt; tag over two lines.</li>\
             <li>&lt;b&gt;bold&lt;/b&gt; &amp; <code>code</code></li></ul>"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(crate::workspace::civil_date(0), "1970-01-01");
        assert_eq!(crate::workspace::civil_date(19_782), "2024-02-29");
        assert_eq!(crate::workspace::civil_date(20_794), "2026-12-07");
        assert_eq!(today().len(), 10);
    }
}
