//! The git side of `release`: its refusals (each read-only, each saying what to do), the
//! commands it runs, and putting the checkout back after a failure.

use anyhow::{bail, Context, Result};
use semver::Version;

use crate::cmd::Cmd;

/// git in the workspace root, talking to one remote.
#[derive(Debug)]
pub struct Git {
    pub remote: String,
}

impl Git {
    pub fn new(remote: &str) -> Git {
        Git {
            remote: remote.to_owned(),
        }
    }

    /// `git ARGS`, run in the workspace root like every command.
    pub fn cmd<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> Cmd {
        Cmd::new("git", args)
    }

    fn read<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> Result<String> {
        self.cmd(args).read()
    }

    pub fn head(&self) -> Result<String> {
        self.read(["rev-parse", "--verify", "HEAD"])
            .context("cannot read the current commit: is this a git checkout with a commit?")
    }

    /// One push of both refs: `--atomic`, so the branch never moves without its tag.
    pub fn push_cmd(&self, branch: &str, tag: &str) -> Cmd {
        self.cmd(["push", "--atomic", &self.remote])
            .arg(format!("refs/heads/{branch}:refs/heads/{branch}"))
            .arg(format!("refs/tags/{tag}"))
    }

    fn local_tag(&self, tag: &str) -> Option<String> {
        self.read([
            "rev-parse",
            "-q",
            "--verify",
            &format!("refs/tags/{tag}^{{commit}}"),
        ])
        .ok()
    }

    pub fn remote_has_tag(&self, tag: &str) -> Result<bool> {
        let out = self
            .read([
                "ls-remote",
                "--tags",
                &self.remote,
                &format!("refs/tags/{tag}"),
            ])
            .with_context(|| format!("cannot list the tags of remote `{}`", self.remote))?;
        Ok(!out.is_empty())
    }

    /// An earlier release that stopped between its steps leaves HEAD at `Release X.Y.Z`
    /// (Cargo.toml already at X.Y.Z) without the tag, or with a tag never pushed; a
    /// new run would release on top of it, so say what happened and both ways out.
    pub fn check_not_interrupted(&self, current: &Version) -> Result<()> {
        let subject = self.read(["log", "-1", "--format=%s"]).unwrap_or_default();
        let Some(v) = subject.strip_prefix("Release ") else {
            return Ok(());
        };
        if v != current.to_string() {
            return Ok(());
        }
        let head = self.head()?;
        let undo =
            "to undo it instead: `git tag -d {v}` (if it exists) and `git reset --hard HEAD~1`";
        let undo = undo.replace("{v}", v);
        match self.local_tag(v) {
            None => bail!(
                "an earlier `cargo xtask release` stopped after committing `Release {v}` ({}) and \
                 before tagging it: HEAD is that commit and tag {v} does not exist. To finish it: \
                 `git tag -a {v} -m 'Release {v}'`, then `{}`; {undo}",
                &head[..12.min(head.len())],
                self.push_cmd(&self.current_branch()?, v)
            ),
            Some(at) if at == head && !self.remote_has_tag(v)? => bail!(
                "an earlier `cargo xtask release` committed and tagged {v} but did not push: tag \
                 {v} exists here, not on `{}`. To finish it: `{}` (CI then publishes), or \
                 `cargo xtask dist --push --tag {v}` to publish from here; {undo}",
                self.remote,
                self.push_cmd(&self.current_branch()?, v)
            ),
            // Released and pushed: the usual state after a release; the checks that follow
            // explain anything else.
            Some(_) => Ok(()),
        }
    }

    /// No changes, untracked files included. `ours` are the files a release writes: when
    /// only they changed, an earlier release probably stopped before its commit.
    pub fn check_clean(&self, ours: &[&str]) -> Result<()> {
        let status = self.read(["-c", "core.quotepath=off", "status", "--porcelain"])?;
        if status.is_empty() {
            return Ok(());
        }
        // `XY PATH` per line (the output comes trimmed, so the first may lack its X).
        let paths: Vec<&str> = status
            .lines()
            .filter_map(|l| l.trim_start().split_once(' '))
            .map(|(_, path)| path.trim_start())
            .collect();
        let hint = if paths.iter().all(|p| ours.contains(p)) {
            format!(
                "\nOnly files a release writes changed: if an earlier `cargo xtask release` \
                 stopped before committing, `git checkout -- {}` undoes it",
                paths.join(" ")
            )
        } else {
            String::new()
        };
        let shown: Vec<&str> = status.lines().take(10).map(str::trim_start).collect();
        bail!(
            "the working tree has changes: a release commits exactly the version bump, so \
             commit or stash these first:\n  {}{hint}",
            shown.join("\n  ")
        );
    }

    fn current_branch(&self) -> Result<String> {
        self.read(["symbolic-ref", "-q", "--short", "HEAD"])
            .context("HEAD is detached: check out the release branch first")
    }

    /// The branch releases are made from: `wanted`, else the remote's default branch.
    /// Returns it when HEAD is on it.
    pub fn check_branch(&self, wanted: Option<&str>) -> Result<String> {
        let want = match wanted {
            Some(b) => b.to_owned(),
            None => self.default_branch()?,
        };
        let on = self.current_branch()?;
        if on != want {
            bail!(
                "on branch `{on}`, but releases are made from `{want}` ({}): `git switch {want}`, \
                 or pass --branch {on}",
                if wanted.is_some() {
                    "--branch".to_owned()
                } else {
                    format!("the default branch of remote `{}`", self.remote)
                }
            );
        }
        Ok(want)
    }

    /// What the remote says its HEAD is (`git ls-remote --symref REMOTE HEAD`).
    fn default_branch(&self) -> Result<String> {
        let out = self
            .read(["ls-remote", "--symref", &self.remote, "HEAD"])
            .with_context(|| {
                format!(
                    "cannot ask remote `{}` for its default branch (is it configured and \
                     reachable? `git remote -v`); pass --branch and --remote",
                    self.remote
                )
            })?;
        out.lines()
            .find_map(|l| l.strip_prefix("ref: refs/heads/"))
            .and_then(|l| l.split('\t').next())
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "remote `{}` names no default branch: pass --branch",
                    self.remote
                )
            })
    }

    pub fn check_tag_free(&self, tag: &str) -> Result<()> {
        if self.local_tag(tag).is_some() {
            bail!("tag {tag} already exists here (`git show {tag}`): choose another version, or delete the tag with `git tag -d {tag}` if it was never published");
        }
        if self.remote_has_tag(tag)? {
            bail!(
                "tag {tag} already exists on remote `{}`: that version was released; choose a \
                 higher one (`git fetch --tags {}` to see it here)",
                self.remote,
                self.remote
            );
        }
        Ok(())
    }

    /// The remote's branch must be HEAD or behind it, or the push would be refused after
    /// the commit and tag were made.
    pub fn check_up_to_date(&self, branch: &str) -> Result<()> {
        let out = self.read(["ls-remote", &self.remote, &format!("refs/heads/{branch}")])?;
        let Some(theirs) = out.split_whitespace().next() else {
            return Ok(()); // a new branch on the remote: nothing to be behind
        };
        let behind = !self
            .cmd(["merge-base", "--is-ancestor", theirs, "HEAD"])
            .succeeds();
        if behind {
            bail!(
                "`{}`'s {branch} ({}) has commits this checkout does not: `git pull {} {branch}` \
                 first, so the release builds on them",
                self.remote,
                &theirs[..12.min(theirs.len())],
                self.remote
            );
        }
        Ok(())
    }

    /// git commit needs a name and e-mail; without one it would fail after the files
    /// were written.
    pub fn check_identity(&self) -> Result<()> {
        self.read(["var", "GIT_COMMITTER_IDENT"]).context(
            "git has no identity to commit as: `git config user.name NAME` and \
             `git config user.email EMAIL`",
        )?;
        Ok(())
    }

    /// Back to `start` with no tag `tag`: the tree was clean when the release began, so
    /// this is exactly the state before it.
    pub fn restore(&self, start: &str, tag: &str) -> Result<()> {
        if self.local_tag(tag).is_some() {
            self.read(["tag", "-d", tag])?;
        }
        self.read(["reset", "--quiet", "--hard", start])?;
        Ok(())
    }
}
