//! Every repository path the xtask uses, in one place.

use camino::{Utf8Path, Utf8PathBuf};

/// The workspace root: two levels above this crate's manifest directory (`xtask/leaf`).
pub fn root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Utf8Path::parent)
        .expect("xtask-leaf lives two levels below the workspace root")
        .to_owned()
}

pub fn extension_dir() -> Utf8PathBuf {
    root().join("extension")
}

pub fn metadata_json() -> Utf8PathBuf {
    extension_dir().join("metadata.json")
}

pub fn ui_dir() -> Utf8PathBuf {
    root().join("ui")
}

/// Cargo's target directory; honours `CARGO_TARGET_DIR` the way cargo does, so a
/// build the xtask starts and the paths it reads back agree.
pub fn target_dir() -> Utf8PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => {
            let dir = Utf8PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        _ => root().join("target"),
    }
}

/// Stops a run of another checkout's xtask. `cargo run` tells the binary which package it
/// was asked to run (`CARGO_MANIFEST_DIR`); with one `CARGO_TARGET_DIR` shared by two
/// checkouts, cargo can hand `cargo xtask` in one checkout the binary built from the
/// other (seen: it did not copy the fresh build over `target/debug/xtask`), which would
/// then stage and publish the other checkout. (Cargo hashes a path package without its
/// path, so two checkouts of the same sources share one build, and the one built first
/// is the one both run.)
///
/// `crate_dirs` are where the binary's own crates were built (each one's
/// `env!("CARGO_MANIFEST_DIR")`: `xtask`, and `xtask/vendor` or any other crate of the
/// xtask's below it). This crate is a path package too, built apart from them, and
/// [`root`] comes from its location: all must be in the checkout asked for.
pub fn check_checkout(crate_dirs: &[&str]) -> anyhow::Result<()> {
    let Ok(asked) = std::env::var("CARGO_MANIFEST_DIR") else {
        return Ok(());
    };
    let asked = Utf8Path::new(&asked);
    let leaf = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = crate_dirs.iter().map(Utf8PathBuf::from).chain([leaf]);
    for built in built {
        let inside = same_dir(asked, &built) || built.parent().is_some_and(|p| same_dir(asked, p));
        if !asked.as_str().is_empty() && !inside {
            anyhow::bail!(
                "this xtask binary was built from {built}, but `cargo xtask` was run for {asked}: \
                 the two checkouts share a target directory ({}), and cargo ran the other checkout's \
                 binary, which would build and publish that checkout. Fix: give each checkout its \
                 own target directory (unset CARGO_TARGET_DIR, or set it per checkout), or rebuild \
                 the xtask for this one (`cargo clean -p xtask -p xtask-leaf -p xtask-vendor`, then \
                 run the command again)",
                target_dir()
            )
        }
    }
    Ok(())
}

fn same_dir(a: &Utf8Path, b: &Utf8Path) -> bool {
    match (a.canonicalize_utf8(), b.canonicalize_utf8()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A cache of this user's shared by every checkout: `$OVERRIDE` if set, else
/// `$XDG_CACHE_HOME/NAME`, `~/Library/Caches/NAME` (macOS), `%LOCALAPPDATA%\NAME`
/// (Windows) or `~/.cache/NAME`.
pub fn user_cache(name: &str, override_var: &str) -> anyhow::Result<Utf8PathBuf> {
    use anyhow::Context;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(d) = env(override_var) {
        return Ok(d.into());
    }
    let base = if let Some(x) = env("XDG_CACHE_HOME") {
        x.into()
    } else if cfg!(windows) {
        Utf8PathBuf::from(
            env("LOCALAPPDATA")
                .with_context(|| format!("LOCALAPPDATA is not set; set {override_var}"))?,
        )
    } else {
        let home = Utf8PathBuf::from(
            env("HOME").with_context(|| format!("HOME is not set; set {override_var}"))?,
        );
        if cfg!(target_os = "macos") {
            home.join("Library/Caches")
        } else {
            home.join(".cache")
        }
    };
    Ok(base.join(name))
}

/// Everything `dist` produces lives here.
pub fn dist_dir() -> Utf8PathBuf {
    target_dir().join("dist")
}

/// The staged file systems, one directory per image platform (`linux-amd64`, ...).
pub fn stage_dir() -> Utf8PathBuf {
    stage_dir_of(&target_dir())
}

/// Where a run with `CARGO_TARGET_DIR=target` stages (`verify --rebuild` runs `stage` in
/// a scratch target directory of its own).
pub fn stage_dir_of(target: &Utf8Path) -> Utf8PathBuf {
    target.join("dist").join("stage")
}

/// Label values of the extension image: the one place they are written.
pub fn labels_json() -> Utf8PathBuf {
    extension_dir().join("labels.json")
}

/// Generated from `labels.json` by `cargo xtask codegen`.
pub fn dockerfile() -> Utf8PathBuf {
    extension_dir().join("Dockerfile")
}

/// Holds `target/dist/` for this run: two runs on one target directory would delete each
/// other's temporary trees and stamps. Waits (saying so) if another run holds it.
pub fn lock_dist() -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    let dir = dist_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    let path = dir.join(".lock");
    let file = std::fs::File::create(&path).with_context(|| format!("cannot open {path}"))?;
    if file.try_lock().is_err() {
        eprintln!("waiting for another cargo xtask run that is using {dir}");
        file.lock().with_context(|| format!("cannot lock {path}"))?;
    }
    Ok(file)
}
