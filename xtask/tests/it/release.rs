//! `cargo xtask release` with a real git, in a copy of this checkout with a local bare
//! remote (never in the checkout itself): the refusals leave the tree as it was, `--dry-run`
//! touches nothing, an interrupted run is explained by the next, a push lands commit and tag
//! together (or neither), the tag is one release.yml's filter matches, and a `--local` patch
//! release publishes an image whose changelog label is the rendered section.

use std::fs;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use camino::{Utf8Path, Utf8PathBuf};

use crate::support::registry::Registry;
use crate::support::*;
use crate::workflows::tag_filter_matches;

/// The copy and its remote live at fixed paths (so the copy's own xtask build stays
/// incremental across tests and runs); the tests take turns on them.
fn base() -> Utf8PathBuf {
    target_dir("release")
}

struct Repo {
    work: Utf8PathBuf,
    remote: Utf8PathBuf,
    _turn: MutexGuard<'static, ()>,
}

fn git_in(dir: &Utf8Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Release Test")
        .env("GIT_AUTHOR_EMAIL", "release@test.invalid")
        .env("GIT_COMMITTER_NAME", "Release Test")
        .env("GIT_COMMITTER_EMAIL", "release@test.invalid")
        .output()
        .expect("git runs")
}

fn git_ok(dir: &Utf8Path, args: &[&str]) -> String {
    let out = git_in(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} in {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// This checkout's files as they are now (committed or not, ignored ones aside), committed
/// in the copy on `main`: only files that differ are rewritten, so mtimes and the copy's
/// build survive. Returns that commit.
fn sync_copy(work: &Utf8Path) -> String {
    if !work.join(".git").exists() {
        fs::create_dir_all(work).unwrap();
        git_ok(work, &["init", "--quiet", "--initial-branch=main"]);
    }
    git_ok(work, &["config", "user.name", "Release Test"]);
    git_ok(work, &["config", "user.email", "release@test.invalid"]);
    git_ok(work, &["checkout", "--quiet", "-B", "main"]);
    let listed = git_ok(
        &root(),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    let listed: Vec<&str> = listed.split('\0').filter(|r| !r.is_empty()).collect();
    for rel in git_ok(work, &["ls-files"]).lines() {
        if !listed.contains(&rel) {
            fs::remove_file(work.join(rel)).unwrap();
        }
    }
    for rel in listed {
        let from = root().join(rel);
        let Ok(bytes) = fs::read(&from) else { continue }; // deleted, not yet staged
        let to = work.join(rel);
        if fs::read(&to).ok().as_deref() != Some(&bytes[..]) {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(&to, &bytes).unwrap();
            fs::set_permissions(&to, fs::metadata(&from).unwrap().permissions()).unwrap();
        }
    }
    git_ok(work, &["add", "-A"]);
    if !git_ok(work, &["status", "--porcelain"]).is_empty() {
        git_ok(
            work,
            &["commit", "--quiet", "-m", "The checkout under test"],
        );
    }
    git_ok(work, &["rev-parse", "HEAD"])
}

/// The copy reset to this checkout's state, no tags, and a fresh bare `origin` holding `main`.
fn repo() -> Repo {
    static TURN: Mutex<()> = Mutex::new(());
    static BASE: OnceLock<String> = OnceLock::new();
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let work = base().join("work");
    let start = BASE.get_or_init(|| sync_copy(&work));
    git_ok(&work, &["checkout", "--quiet", "-B", "main", start]);
    git_ok(&work, &["reset", "--quiet", "--hard", start]);
    git_ok(&work, &["clean", "--quiet", "-fd"]);
    for branch in git_ok(
        &work,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    {
        if branch != "main" {
            git_ok(&work, &["branch", "-D", branch]);
        }
    }
    for tag in git_ok(&work, &["tag", "--list"]).lines() {
        git_ok(&work, &["tag", "-d", tag]);
    }
    let remote = base().join("remote.git");
    let _ = fs::remove_dir_all(&remote);
    git_ok(
        &base(),
        &["clone", "--quiet", "--bare", work.as_str(), remote.as_str()],
    );
    let _ = git_in(&work, &["remote", "remove", "origin"]);
    git_ok(&work, &["remote", "add", "origin", remote.as_str()]);
    Repo {
        work,
        remote,
        _turn: turn,
    }
}

impl Repo {
    /// `cargo xtask release ARGS` in the copy, with the copy's own build of the xtask.
    fn release(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("cargo");
        cmd.args(["xtask", "release"])
            .args(args)
            .current_dir(&self.work)
            .env("CARGO_TARGET_DIR", base().join("target"))
            .env_remove("CARGO_MANIFEST_DIR")
            .env("CI", "true");
        cmd
    }

    fn git(&self, args: &[&str]) -> String {
        git_ok(&self.work, args)
    }

    /// Everything a release could change: HEAD, the branch, every tag here and on the
    /// remote, the status, and the five files' bytes.
    fn state(&self) -> String {
        let mut s = [
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["symbolic-ref", "HEAD"]),
            self.git(&["tag", "--list"]),
            self.git(&["status", "--porcelain"]),
            git_ok(&self.remote, &["show-ref"]),
        ]
        .join("\n");
        for f in [
            "Cargo.toml",
            "Cargo.lock",
            "CHANGELOG.md",
            "extension/labels.json",
            "extension/Dockerfile",
        ] {
            s.push_str(&fs::read_to_string(self.work.join(f)).unwrap());
        }
        s
    }

    /// Runs a release that must be refused with `needle` in its error, and checks that
    /// nothing changed.
    fn refused(&self, args: &[&str], needle: &str) {
        let before = self.state();
        let err = run_err(self.release(args));
        assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
        assert!(before == self.state(), "a refused release changed the copy");
    }
}

#[test]
fn a_dirty_tree_is_refused() {
    let r = repo();
    fs::write(r.work.join("README.md"), "changed\n").unwrap();
    r.refused(&["patch", "--push"], "the working tree has changes");
    let untracked = r.work.join("notes.txt");
    r.git(&["checkout", "--", "README.md"]);
    fs::write(&untracked, "mine\n").unwrap();
    r.refused(&["patch", "--push"], "?? notes.txt");
    assert_eq!(fs::read_to_string(&untracked).unwrap(), "mine\n");
}

#[test]
fn another_branch_is_refused() {
    let r = repo();
    r.git(&["switch", "--quiet", "-c", "feature"]);
    r.refused(
        &["patch", "--push"],
        "on branch `feature`, but releases are made from `main` (the default branch of remote `origin`)",
    );
    r.refused(
        &["patch", "--local", "--branch", "stable"],
        "releases are made from `stable` (--branch)",
    );
}

#[test]
fn an_existing_tag_here_or_on_the_remote_is_refused() {
    let r = repo();
    r.git(&["tag", "0.1.1"]);
    r.refused(&["patch", "--push"], "tag 0.1.1 already exists here");
    r.git(&["tag", "-d", "0.1.1"]);
    r.git(&["push", "--quiet", "origin", "HEAD:refs/tags/0.1.1"]);
    r.refused(
        &["patch", "--push"],
        "tag 0.1.1 already exists on remote `origin`",
    );
}

#[test]
fn a_version_not_above_the_current_is_refused() {
    let r = repo();
    r.refused(
        &["0.1.0", "--push"],
        "version 0.1.0 is not greater than the current 0.1.0",
    );
    r.refused(&["0.0.9", "--local"], "version 0.0.9 is not greater");
    let err = run_err(r.release(&["v2", "--push"]));
    assert!(
        err.contains("expected patch, minor, major or a version X.Y.Z, found `v2`"),
        "{err}"
    );
}

#[test]
fn a_changelog_without_unreleased_entries_is_refused() {
    let r = repo();
    let log = fs::read_to_string(r.work.join("CHANGELOG.md")).unwrap();
    let (head, rest) = log.split_once("## Unreleased\n").unwrap();
    let (_, older) = rest.split_once("\n## ").unwrap();
    fs::write(
        r.work.join("CHANGELOG.md"),
        format!("{head}## Unreleased\n\n### Added\n\n## {older}"),
    )
    .unwrap();
    r.git(&["commit", "--quiet", "-am", "Nothing unreleased"]);
    r.git(&["push", "--quiet", "origin", "main"]);
    r.refused(
        &["patch", "--push"],
        "CHANGELOG.md: `## Unreleased` has no entries",
    );
}

#[test]
fn a_remote_ahead_is_refused_before_anything_is_written() {
    let r = repo();
    r.git(&["commit", "--quiet", "--allow-empty", "-m", "Someone else's"]);
    r.git(&["push", "--quiet", "origin", "main"]);
    r.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    r.refused(&["patch", "--push"], "`origin`'s main");
}

#[test]
fn dry_run_shows_every_change_and_command_and_touches_nothing() {
    let r = repo();
    let before = r.state();
    let out = run_ok(r.release(&["minor", "--push", "--dry-run"]));
    assert!(before == r.state(), "--dry-run changed the copy");
    let plan = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--- a/Cargo.toml\n",
        "-version = \"0.1.0\"\n+version = \"0.2.0\"\n",
        "--- a/Cargo.lock\n",
        "--- a/CHANGELOG.md\n",
        "+## 0.2.0 - ",
        "--- a/extension/labels.json\n",
        "+  \"com.docker.extension.changelog\": \"<h3>Added</h3><ul><li>",
        "--- a/extension/Dockerfile\n",
        "$ git add -- Cargo.toml Cargo.lock CHANGELOG.md extension/labels.json extension/Dockerfile\n",
        "$ git commit --quiet -m 'Release 0.2.0'\n",
        "$ git tag -a 0.2.0 --cleanup=whitespace -m 'Release 0.2.0\n\n### Added\n",
        "$ git push --atomic origin refs/heads/main:refs/heads/main refs/tags/0.2.0\n",
    ] {
        assert!(plan.contains(needle), "`{needle}` not in the plan:\n{plan}");
    }
}

#[test]
fn a_run_killed_before_its_commit_is_explained_by_the_next() {
    let r = repo();
    let out = run(r
        .release(&["patch", "--push"])
        .env(xtask::release::STOP_AFTER, "write"));
    assert_eq!(
        out.status.code(),
        Some(137),
        "the stop hook did not stop it"
    );
    let err = run_err(r.release(&["patch", "--push"]));
    assert!(
        err.contains("Only files a release writes changed")
            && err.contains("`git checkout -- CHANGELOG.md Cargo.lock Cargo.toml extension/Dockerfile extension/labels.json` undoes it"),
        "{err}"
    );
}

#[test]
fn a_run_killed_between_commit_and_tag_is_explained_by_the_next() {
    let r = repo();
    let out = run(r
        .release(&["patch", "--push"])
        .env(xtask::release::STOP_AFTER, "commit"));
    assert_eq!(
        out.status.code(),
        Some(137),
        "the stop hook did not stop it"
    );
    assert_eq!(r.git(&["log", "-1", "--format=%s"]), "Release 0.1.1");
    assert_eq!(r.git(&["tag", "--list"]), "");
    let err = run_err(r.release(&["patch", "--push"]));
    assert!(
        err.contains("stopped after committing `Release 0.1.1`")
            && err.contains("tag 0.1.1 does not exist")
            && err.contains("`git tag -a 0.1.1 -m 'Release 0.1.1'`")
            && err.contains("`git reset --hard HEAD~1`"),
        "{err}"
    );
    // Its advice, followed: tagged, then the next run says the push is what is left.
    r.git(&["tag", "-a", "0.1.1", "-m", "Release 0.1.1"]);
    let err = run_err(r.release(&["patch", "--push"]));
    assert!(
        err.contains("committed and tagged 0.1.1 but did not push")
            && err.contains(
                "git push --atomic origin refs/heads/main:refs/heads/main refs/tags/0.1.1"
            ),
        "{err}"
    );
}

#[test]
fn push_lands_commit_and_tag_together_or_neither() {
    let r = repo();
    // A remote that refuses every push: nothing lands and the copy is as it was.
    let hook = r.remote.join("hooks/pre-receive");
    fs::write(&hook, "#!/bin/sh\necho 'closed for the test' >&2\nexit 1\n").unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    r.refused(
        &["patch", "--push"],
        "nothing was pushed and the checkout is back at",
    );
    fs::remove_file(&hook).unwrap();

    run_ok(r.release(&["patch", "--push"]));
    let head = r.git(&["rev-parse", "HEAD"]);
    assert_eq!(git_ok(&r.remote, &["rev-parse", "main"]), head);
    assert_eq!(
        git_ok(&r.remote, &["cat-file", "-t", "0.1.1"]),
        "tag",
        "not an annotated tag"
    );
    assert_eq!(git_ok(&r.remote, &["rev-parse", "0.1.1^{commit}"]), head);
    assert_eq!(r.git(&["log", "-1", "--format=%s"]), "Release 0.1.1");
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    let changed = r.git(&["diff", "--name-only", "HEAD~1"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        [
            "CHANGELOG.md",
            "Cargo.lock",
            "Cargo.toml",
            "extension/Dockerfile",
            "extension/labels.json"
        ]
    );
    // The tag's message carries the section, headings included.
    let message = git_ok(&r.remote, &["tag", "-l", "--format=%(contents)", "0.1.1"]);
    assert!(
        message.starts_with("Release 0.1.1\n\n### Added\n- "),
        "{message}"
    );
    assert!(
        tag_filter_matches("0.1.1"),
        "release.yml would not run for 0.1.1"
    );
    assert_label_is_the_section(&r.work, "0.1.1");
    // Cargo agrees with the edited lock file, and the Dockerfile is what codegen makes.
    let meta = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--no-deps",
        ])
        .current_dir(&r.work)
        .output()
        .unwrap();
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    assert!(String::from_utf8_lossy(&meta.stdout)
        .contains("\"name\":\"host-bin\",\"version\":\"0.1.1\""));
    // The next release finds nothing unreleased.
    r.refused(&["patch", "--push"], "`## Unreleased` has no entries");
}

/// labels.json's changelog is CHANGELOG.md's `## VERSION` section rendered.
fn assert_label_is_the_section(work: &Utf8Path, version: &str) -> String {
    let log = fs::read_to_string(work.join("CHANGELOG.md")).unwrap();
    let heading = format!("## {version} - {}\n\n", xtask::changelog::today());
    let section = log.split_once(&heading).expect("the version's heading").1;
    let section = section.split("\n## ").next().unwrap();
    let labels: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(work.join("extension/labels.json")).unwrap())
            .unwrap();
    let label = labels["com.docker.extension.changelog"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(label, xtask::changelog::to_html(section));
    assert!(label.starts_with("<h3>Added</h3><ul><li>"), "{label}");
    label
}

/// A patch release end to end with `--local`: `dist --push` from the tagged commit into a
/// loopback registry; every variant's changelog label is the rendered section.
#[test]
fn local_patch_release_publishes_the_rendered_changelog() {
    if !dist_ready() {
        return;
    }
    let _serial = serial();
    let Some(reg) = Registry::start() else { return };
    let r = repo();
    let image = reg.image("hostfacts");
    run_ok(r.release(&["patch", "--local", "--image", &image]));
    let label = assert_label_is_the_section(&r.work, "0.1.1");
    assert_eq!(r.git(&["describe", "--exact-match", "HEAD"]), "0.1.1");
    // Each variant's image config, as buildx reads it from the registry.
    let reference = format!("{image}:0.1.1");
    let out = run(Command::new("docker").args([
        "buildx",
        "imagetools",
        "inspect",
        &reference,
        "--format",
        "{{json .Image}}",
    ]));
    assert!(out.status.success(), "cannot inspect {reference}");
    let configs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let configs = configs.as_object().expect("one config per platform");
    assert_eq!(
        configs.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"]
    );
    for (platform, config) in configs {
        assert_eq!(
            config["config"]["Labels"]["com.docker.extension.changelog"], label,
            "{platform}"
        );
    }
    // The commit and tag stay local until the author pushes them.
    assert!(git_ok(&r.remote, &["tag", "--list"]).is_empty());
}
