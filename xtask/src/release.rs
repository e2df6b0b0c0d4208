//! `cargo xtask release <patch|minor|major|X.Y.Z>`: from CHANGELOG.md's Unreleased entries
//! to a tagged release, published by CI (`--push`) or from this machine (`--local`).
//!
//! Every precondition is checked before anything is written. The run is a plan (file
//! changes, then commands) that `--dry-run` prints and a real run executes; a failure before
//! anything left this machine puts the checkout back where it was (the tree was clean, so
//! `git reset --hard` to the starting commit is exact), and one after says what was done.

use anyhow::{bail, Context, Result};
use semver::Version;

use crate::cmd::Cmd;
use crate::dist::{self, DistOptions};
pub use crate::release_edit::Bump;
use crate::release_edit::{self as edit, diff};
use crate::release_git::Git;
use crate::{changelog, codegen, labels, paths};

/// Where the release goes once committed and tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Push the commit and the tag; CI's release workflow publishes.
    Push,
    /// `dist --push` here, from the tagged commit.
    Local,
}

/// What `release` is asked to do: the flags, read once.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub bump: Bump,
    pub publish: Publish,
    pub dry_run: bool,
    /// The branch releases are made from; `None`: the remote's default branch.
    pub branch: Option<String>,
    pub remote: String,
    /// `--local`'s image repository (else Cargo.toml's, as for `dist`).
    pub image: Option<String>,
    pub verbose: bool,
}

/// The test hook that stands in for a kill: the process exits right after this step
/// (`write`, `commit` or `tag`), doing nothing more and undoing nothing.
pub const STOP_AFTER: &str = "XTASK_RELEASE_STOP_AFTER";

const FILES: [&str; 5] = [
    "Cargo.toml",
    "Cargo.lock",
    "CHANGELOG.md",
    "extension/labels.json",
    "extension/Dockerfile",
];

/// One file's contents before and after.
#[derive(Debug)]
struct Change {
    path: &'static str,
    old: String,
    new: String,
}

/// Everything the release will do, decided before anything is done.
#[derive(Debug)]
struct Plan {
    current: Version,
    next: Version,
    branch: String,
    changes: Vec<Change>,
    /// `cargo metadata --locked`: the edited lock file is the one cargo wants.
    check_lock: Cmd,
    commit: Vec<Cmd>,
    tag: Cmd,
    push: Cmd,
    dist: DistOptions,
}

pub fn run(opts: &ReleaseOptions) -> Result<()> {
    let git = Git::new(&opts.remote);
    let plan = prepare(opts, &git)?;
    let tag = plan.next.to_string();
    eprintln!(
        "release {tag} (from {}) on `{}`, {}",
        plan.current,
        plan.branch,
        match opts.publish {
            Publish::Push => format!("pushed to `{}` for CI to publish", opts.remote),
            Publish::Local => "published from this machine (`dist --push`)".to_owned(),
        }
    );
    if opts.dry_run {
        print!("{}", render(opts, &plan));
        eprintln!("dry run: nothing was written, committed, tagged or pushed");
        return Ok(());
    }
    let start = git.head()?;
    let undo = |e: anyhow::Error| -> anyhow::Error {
        match git.restore(&start, &tag) {
            Ok(()) => e.context(format!(
                "release {tag} failed; the checkout is back at {start} as it was (no commit, no tag)"
            )),
            Err(u) => e.context(format!(
                "release {tag} failed, and putting the checkout back failed too ({u:#}): run \
                 `git reset --hard {start}` and `git tag -d {tag}`"
            )),
        }
    };
    write(&plan).map_err(undo)?;
    stop_if("write");
    plan.check_lock.read().map_err(undo)?;
    for cmd in &plan.commit {
        cmd.read().map_err(undo)?;
    }
    stop_if("commit");
    plan.tag.read().map_err(undo)?;
    stop_if("tag");
    match opts.publish {
        Publish::Push => push(&git, &plan, &start),
        Publish::Local => match dist::run(&plan.dist) {
            Ok(()) => {
                eprintln!(
                    "released {tag} from this machine. The release commit and tag {tag} are \
                     still local only; share them with `{}` (CI's release workflow then runs \
                     for the tag too, and its merge job refuses to replace the published image)",
                    plan.push
                );
                Ok(())
            }
            // dist never points a tag at an image it has not verified: nothing was released.
            Err(e) => Err(undo(
                e.context(format!("`dist --push` failed; no image was tagged {tag}")),
            )),
        },
    }
}

/// The plan, after every refusal that needs no writing.
fn prepare(opts: &ReleaseOptions, git: &Git) -> Result<Plan> {
    let manifest_path = paths::root().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {manifest_path}"))?;
    let current = edit::workspace_version("Cargo.toml", &manifest)?;
    git.check_not_interrupted(&current)?;
    git.check_clean(&FILES)?;
    let branch = git.check_branch(opts.branch.as_deref())?;
    let next = opts.bump.apply(&current);
    if next <= current {
        bail!(
            "version {next} is not greater than the current {current} (Cargo.toml \
             `[workspace.package] version`): give a higher one, or patch, minor or major"
        );
    }
    let tag = next.to_string();
    git.check_tag_free(&tag)?;
    if opts.publish == Publish::Push {
        git.check_up_to_date(&branch)?;
    }
    git.check_identity()?;

    let (changes, section) = file_changes(&manifest, &current, &next)?;
    let message = format!("Release {tag}");
    Ok(Plan {
        changes,
        check_lock: Cmd::new(
            "cargo",
            // Not --offline: metadata reads every platform's dependencies, and a checkout
            // that only ever built for this one may not have them all downloaded.
            ["metadata", "--format-version", "1", "--locked"],
        ),
        commit: vec![
            git.cmd(["add", "--"]).args_from(FILES),
            git.cmd(["commit", "--quiet", "-m", &message]),
        ],
        // `whitespace`, not git's default `strip`, which would drop `### Added` as a comment.
        tag: git
            .cmd(["tag", "-a", &tag, "--cleanup=whitespace", "-m"])
            .arg(format!("{message}\n\n{section}")),
        push: git.push_cmd(&branch, &tag),
        dist: DistOptions {
            push: true,
            image: opts.image.clone(),
            tag: Some(tag),
            build: crate::build::BuildOptions {
                verbose: opts.verbose,
                ..Default::default()
            },
            ..Default::default()
        },
        current,
        next,
        branch,
    })
}

/// Each file a release writes, before and after, and the released changelog section.
fn file_changes(
    manifest: &str,
    current: &Version,
    next: &Version,
) -> Result<(Vec<Change>, String)> {
    let read = |rel: &str| {
        let path = paths::root().join(rel);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))
    };
    let tag = next.to_string();
    let log = read("CHANGELOG.md")?;
    let (log_new, section) = changelog::release("CHANGELOG.md", &log, &tag, &changelog::today())?;
    let html = changelog::to_html(&section);
    let labels_old = read("extension/labels.json")?;
    let labels_new = edit::set_label(
        "extension/labels.json",
        &labels_old,
        labels::CHANGELOG,
        &html,
    )?;
    let parsed = labels::parse(&paths::labels_json(), &labels_new)?;
    let mut names = Vec::new();
    for member in edit::members("Cargo.toml", manifest)? {
        let file = format!("{member}/Cargo.toml");
        names.extend(edit::inherits_version(&file, &read(&file)?)?);
    }
    let lock = read("Cargo.lock")?;
    let new = [
        edit::set_workspace_version("Cargo.toml", manifest, next)?,
        edit::set_lock_versions("Cargo.lock", &lock, &names, current, next)?,
        log_new,
        labels_new,
        codegen::generate(&parsed)?,
    ];
    let old = [
        manifest.to_owned(),
        lock,
        log,
        labels_old,
        read("extension/Dockerfile")?,
    ];
    let changes = FILES
        .iter()
        .zip(old.into_iter().zip(new))
        .map(|(path, (old, new))| Change { path, old, new })
        .collect();
    Ok((changes, section))
}

/// What `--dry-run` prints: every file change as a diff, then every command.
fn render(opts: &ReleaseOptions, plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        out.push_str(&diff(c.path, &c.old, &c.new));
    }
    for cmd in [&plan.check_lock]
        .into_iter()
        .chain(&plan.commit)
        .chain([&plan.tag])
    {
        out.push_str(&format!("$ {cmd}\n"));
    }
    match opts.publish {
        Publish::Push => out.push_str(&format!("$ {}\n", plan.push)),
        Publish::Local => {
            let image = match &plan.dist.image {
                Some(i) => format!(" --image {i}"),
                None => String::new(),
            };
            out.push_str(&format!(
                "$ cargo xtask dist --push --tag {}{image}\n",
                plan.next
            ));
        }
    }
    out
}

fn write(plan: &Plan) -> Result<()> {
    for c in &plan.changes {
        let path = paths::root().join(c.path);
        std::fs::write(&path, &c.new).with_context(|| format!("cannot write {path}"))?;
    }
    Ok(())
}

/// Pushes the branch and the tag in one atomic push: both land or neither does.
fn push(git: &Git, plan: &Plan, start: &str) -> Result<()> {
    let tag = plan.next.to_string();
    if let Err(e) = plan.push.read() {
        // A push that failed on the way back may still have landed: ask before undoing.
        if git.remote_has_tag(&tag).unwrap_or(true) {
            return Err(e.context(format!(
                "the push reported a failure, but `{}` has (or may have) tag {tag}: the release \
                 commit and tag are kept here. Check with `git ls-remote --tags {} {tag}`; if it \
                 is there, CI is publishing; if not, run `{}`",
                git.remote, git.remote, plan.push
            )));
        }
        git.restore(start, &tag)
            .context("and putting the checkout back failed")?;
        return Err(e.context(format!(
            "pushing release {tag} failed; nothing was pushed and the checkout is back at {start}"
        )));
    }
    eprintln!(
        "pushed `Release {tag}` and tag {tag} to `{}`: CI's release workflow \
         (.github/workflows/release.yml) now builds, verifies and publishes {tag}",
        git.remote
    );
    Ok(())
}

impl crate::flags::ReleaseCmd {
    pub fn run(self) -> Result<()> {
        run(&ReleaseOptions {
            bump: self.bump,
            publish: if self.push {
                Publish::Push
            } else {
                Publish::Local
            },
            dry_run: self.dry_run,
            branch: self.branch,
            remote: self.remote,
            image: self.image,
            verbose: self.verbose,
        })
    }
}

fn stop_if(step: &str) {
    if std::env::var(STOP_AFTER).is_ok_and(|s| s == step) {
        eprintln!("{STOP_AFTER}={step}: stopping here, as a kill would");
        std::process::exit(137);
    }
}
