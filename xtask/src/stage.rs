//! Staging: the exact file system of each image variant, built in a temporary directory
//! and swapped into `target/dist/stage/` only when complete and checked, so an
//! interrupted or failed run never leaves a tree a later step trusts.

use std::fs;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

use crate::binfmt::{self, Floors, Linkage};
use crate::build::{self, BuildOptions};
use crate::digest::{self, set_mode, walk_files, CHECKSUMS};
use crate::flags::StageCmd;
use crate::plan::{PlatformStage, Source};
use crate::progress::Reporter;
use crate::target::Os;
use crate::{paths, ui, vendoring};

impl StageCmd {
    pub fn run(self) -> Result<()> {
        let opts = BuildOptions::from(&self.opts);
        let rep = Reporter::new(opts.verbose);
        let prepared = build::prepare(&rep, &opts)?;
        if opts.dry_run {
            print!("{}", prepared.plan);
            return Ok(());
        }
        let _lock = paths::lock_dist()?;
        run(&rep, &prepared)
    }
}

/// Builds what `prepared` plans and stages it.
pub fn run(rep: &Reporter, prepared: &build::Prepared) -> Result<()> {
    let (plan, epoch) = (&prepared.plan, prepared.epoch);
    let with_ui = !plan.ui.is_empty();
    if with_ui {
        ui::check_tools(&ui::npm_program())?;
    }
    {
        // The UI (npm, mostly one core) builds and the vendored binaries download beside
        // the host binaries.
        let vendored = plan
            .stages
            .iter()
            .flat_map(|s| s.entries.values())
            .filter_map(|e| match e {
                Source::Vendored(a) => Some(a.as_ref()),
                _ => None,
            });
        let (bins, ui, fetched) = std::thread::scope(|s| {
            let ui = s.spawn(|| if with_ui { ui::build(rep) } else { Ok(()) });
            let fetched = s.spawn(|| vendoring::fetch_all(rep, vendored, prepared.fetch.clone()));
            let bins = build::run(rep, prepared);
            (
                bins,
                ui.join().expect("UI build thread panicked"),
                fetched.join().expect("download thread panicked"),
            )
        });
        let failed: Vec<String> = [
            bins.err(),
            ui.err(),
            fetched.as_ref().err().map(|e| anyhow::anyhow!("{e:#}")),
        ]
        .into_iter()
        .flatten()
        .map(|e| format!("{e:#}"))
        .collect();
        if !failed.is_empty() {
            bail!("{}", failed.join("\nand: "));
        }
        let fetched = fetched?;
        let root = paths::stage_dir();
        let inputs = Inputs {
            epoch,
            floors: &prepared.ws.floors,
            fetched: &fetched,
        };
        stage_all(&plan.stages, &root, &inputs)?;
        for s in &plan.stages {
            rep.println(format!(
                "staged {} -> {}",
                s.platform,
                root.join(s.platform.stage_name())
            ));
            for (dest, src) in &s.entries {
                match src {
                    Source::Binary { target, .. } => rep.println(format!(
                        "  /{dest}  ({}: {} {})",
                        target.triple,
                        target.os.format(),
                        target.arch.cpu()
                    )),
                    Source::Vendored(a) => rep.println(format!(
                        "  /{dest}  ({} {}, {} build, vendored)",
                        a.name, a.version, a.upstream.built_for
                    )),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// What staging needs besides the plan.
pub struct Inputs<'a> {
    /// Every file's and directory's mtime.
    pub epoch: SystemTime,
    /// The oldest OS versions every binary must load on.
    pub floors: &'a Floors,
    /// Vendored artifacts in the cache (`vendoring::key`).
    pub fetched: &'a vendoring::FetchedAll,
}

/// Stages every platform of the plan into `stage_root`, replacing what was there.
pub fn stage_all(
    stages: &[PlatformStage],
    stage_root: &Utf8Path,
    inputs: &Inputs<'_>,
) -> Result<()> {
    let parent = stage_root
        .parent()
        .context("stage directory has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {parent}"))?;
    remove_leftovers(stage_root)?;
    let tmp = parent.join(format!(".stage-tmp-{}", std::process::id()));
    let result = (|| {
        for s in stages {
            stage_platform(s, &tmp.join(s.platform.stage_name()), inputs)?;
        }
        normalise_modes(&tmp)?;
        normalise_mtimes(&tmp, inputs.epoch)
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    swap_into_place(&tmp, stage_root)
}

/// Directories of runs that were interrupted: never trusted, removed on the next run.
/// Except one case: a run stopped between moving the previous tree aside and renaming
/// the new one into place leaves no tree but a complete `.stage-old-*`, the last good
/// state, which goes back where it was.
fn remove_leftovers(dest: &Utf8Path) -> Result<()> {
    let parent = dest.parent().context("stage directory has no parent")?;
    if !dest.exists() {
        let moved_aside = parent
            .read_dir_utf8()
            .with_context(|| format!("cannot list {parent}"))?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().starts_with(".stage-old-"));
        if let Some(old) = moved_aside {
            fs::rename(old.path(), dest)
                .with_context(|| format!("cannot restore {} to {dest}", old.path()))?;
        }
    }
    for entry in parent
        .read_dir_utf8()
        .with_context(|| format!("cannot list {parent}"))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if name.starts_with(".stage-tmp-") || name.starts_with(".stage-old-") {
            fs::remove_dir_all(entry.path())
                .with_context(|| format!("cannot remove leftover {}", entry.path()))?;
        }
    }
    Ok(())
}

/// Renames `new` over `dest`. The old tree is moved aside first, so at every instant
/// `dest` is either the previous complete tree, absent, or the new complete tree.
fn swap_into_place(new: &Utf8Path, dest: &Utf8Path) -> Result<()> {
    let old = dest.with_file_name(format!(".stage-old-{}", std::process::id()));
    if dest.exists() {
        fs::rename(dest, &old).with_context(|| format!("cannot move {dest} aside"))?;
    }
    if let Err(e) = fs::rename(new, dest) {
        // Put the previous tree back: it is still the last good state.
        let _ = fs::rename(&old, dest);
        return Err(e).with_context(|| format!("cannot rename {new} to {dest}"));
    }
    if old.exists() {
        fs::remove_dir_all(&old).with_context(|| format!("cannot remove {old}"))?;
    }
    Ok(())
}

fn stage_platform(s: &PlatformStage, root: &Utf8Path, inputs: &Inputs<'_>) -> Result<()> {
    let mut sums = digest::Sums::new();
    for (dest, src) in &s.entries {
        let to = root.join(dest);
        fs::create_dir_all(to.parent().unwrap_or(root))?;
        match src {
            Source::File(from) => copy_file(from, &to, 0o644)?,
            Source::Dir(from) => copy_dir(from, &to)?,
            Source::Binary { target, path } => {
                if !path.exists() {
                    bail!(
                        "metadata.json names /{dest} for {}, but the {} build produced no {path}",
                        s.platform,
                        target.triple
                    );
                }
                let bytes = fs::read(path).with_context(|| format!("cannot read {path}"))?;
                let info = binfmt::sniff(&bytes).with_context(|| format!("{path}"))?;
                let (format, cpu) = target.expected();
                let static_ok = target.os != Os::Linux || info.linkage == Linkage::Static;
                if info.format != format || !info.runs_on(cpu) || !static_ok {
                    let want = if target.os == Os::Linux {
                        " static"
                    } else {
                        ""
                    };
                    bail!(
                        "{path} (for /{dest} in {}): expected {format} {cpu}{want}, found {info}",
                        s.platform
                    );
                }
                let report = binfmt::check(&bytes, target.os, target.arch.cpu(), inputs.floors);
                if !report.is_ok() {
                    let problems: Vec<String> =
                        report.problems.iter().map(ToString::to_string).collect();
                    bail!(
                        "{path} (for /{dest} in {}) would not load on {}:\n  {}",
                        s.platform,
                        target.os.dir(),
                        problems.join("\n  ")
                    );
                }
                fs::write(&to, &bytes).with_context(|| format!("cannot write {to}"))?;
                set_mode(&to, 0o755)?;
                sums.insert(dest.clone(), digest::sha256_bytes_hex(&bytes));
            }
            Source::Vendored(a) => {
                let fetched = inputs
                    .fetched
                    .get(&vendoring::key(a))
                    .with_context(|| format!("{} for {} was not fetched", a.name, a.platform))?;
                let from = &fetched.path;
                let bytes = fs::read(from).with_context(|| format!("cannot read {from}"))?;
                // What is staged must be exactly the pinned (or verified, unpacked) bytes.
                let have = digest::sha256_bytes_hex(&bytes);
                // Under a declared fallback the build is another CPU's.
                let (os, arch) = (a.platform.os, a.upstream.built_for.arch);
                let report = binfmt::check(&bytes, os, arch.cpu(), inputs.floors);
                let mut problems: Vec<String> =
                    report.problems.iter().map(ToString::to_string).collect();
                if have != fetched.sha256 {
                    problems.push(format!("sha256: expected {}, found {have}", fetched.sha256));
                }
                if !problems.is_empty() {
                    bail!(
                        "{} {} ({}, for /{dest} in {}) would not load on {}:\n  {}",
                        a.name,
                        a.version,
                        a.upstream.url,
                        s.platform,
                        os.dir(),
                        problems.join("\n  ")
                    );
                }
                fs::write(&to, &bytes).with_context(|| format!("cannot write {to}"))?;
                set_mode(&to, 0o755)?;
                sums.insert(dest.clone(), have);
            }
        }
    }
    check_binary_dirs(s, root)?;
    fs::write(root.join(CHECKSUMS), digest::format_sums(&sums))
        .with_context(|| format!("cannot write {root}/{CHECKSUMS}"))?;
    set_mode(&root.join(CHECKSUMS), 0o644)
}

/// What is staged under `darwin/`, `windows/` and `linux/` must be exactly what
/// metadata.json names (a UI or icon placed there by mistake would ship as a "binary").
fn check_binary_dirs(s: &PlatformStage, root: &Utf8Path) -> Result<()> {
    for os in Os::ALL {
        let dir = root.join(os.dir());
        if !dir.exists() {
            continue;
        }
        for file in walk_files(&dir)? {
            let rel = file
                .strip_prefix(root)
                .expect("walk stays below root")
                .as_str()
                .replace('\\', "/");
            if !matches!(
                s.entries.get(&rel),
                Some(Source::Binary { .. } | Source::Vendored(_))
            ) {
                bail!("{file} is staged for {} but metadata.json's host.binaries does not name /{rel}", s.platform);
            }
        }
    }
    Ok(())
}

fn copy_file(from: &Utf8Path, to: &Utf8Path, mode: u32) -> Result<()> {
    fs::copy(from, to).with_context(|| format!("cannot copy {from} to {to}"))?;
    set_mode(to, mode)
}

fn copy_dir(from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    if !from.is_dir() {
        bail!("{from} does not exist: the UI build produced nothing to stage");
    }
    for file in walk_files(from)? {
        let dest = to.join(file.strip_prefix(from).expect("walk stays below root"));
        fs::create_dir_all(dest.parent().unwrap_or(to))?;
        copy_file(&file, &dest, 0o644)?;
    }
    Ok(())
}

/// Directories 0755 whatever the umask, so the layers do not depend on who staged them.
fn normalise_modes(root: &Utf8Path) -> Result<()> {
    for d in digest::walk_dirs(root)? {
        set_mode(&d, 0o755)?;
    }
    Ok(())
}

/// Sets every file's and directory's mtime to `epoch`, children before parents (writing
/// a child would bump its parent), so identical sources give byte-identical trees and
/// reproducible image layers.
pub fn normalise_mtimes(root: &Utf8Path, epoch: SystemTime) -> Result<()> {
    let times = fs::FileTimes::new().set_modified(epoch).set_accessed(epoch);
    for file in walk_files(root)? {
        fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_times(times))
            .with_context(|| format!("cannot set the mtime of {file}"))?;
    }
    // Directory mtimes go into the layers too (BuildKit sends them from every client).
    for d in digest::walk_dirs(root)?.iter().rev() {
        open_dir(d)
            .and_then(|f| f.set_times(times))
            .with_context(|| format!("cannot set the mtime of {d}"))?;
    }
    Ok(())
}

/// A directory opened so its times can be set.
#[cfg(not(windows))]
fn open_dir(d: &Utf8Path) -> std::io::Result<fs::File> {
    fs::File::open(d)
}

/// Windows opens a directory only with FILE_FLAG_BACKUP_SEMANTICS, and setting its times
/// needs FILE_WRITE_ATTRIBUTES (the values from the Windows SDK's winbase.h and winnt.h).
#[cfg(windows)]
fn open_dir(d: &Utf8Path) -> std::io::Result<fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
    const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
    fs::File::options()
        .access_mode(FILE_WRITE_ATTRIBUTES)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;
    use std::time::Duration;

    fn scratch(name: &str) -> Utf8PathBuf {
        let dir = paths::target_dir().join("xtask-unit").join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("a/b")).unwrap();
        dir
    }

    #[test]
    fn mtimes_are_normalised_everywhere() {
        let dir = scratch("mtimes");
        fs::write(dir.join("a/b/f"), "x").unwrap();
        fs::write(dir.join("top"), "y").unwrap();
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        normalise_mtimes(&dir, epoch).unwrap();
        for p in [
            dir.join("a/b/f"),
            dir.join("top"),
            dir.join("a/b"),
            dir.join("a"),
            dir.clone(),
        ] {
            assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), epoch, "{p}");
        }
    }

    #[test]
    fn swap_replaces_whole_tree_and_leftovers_go() {
        let dir = scratch("swap");
        let dest = dir.join("stage");
        fs::create_dir_all(dest.join("old-only")).unwrap();
        fs::create_dir_all(dir.join(".stage-tmp-999999/x")).unwrap();
        remove_leftovers(&dest).unwrap();
        assert!(!dir.join(".stage-tmp-999999").exists());
        let new = dir.join("new");
        fs::create_dir_all(new.join("new-only")).unwrap();
        swap_into_place(&new, &dest).unwrap();
        assert!(dest.join("new-only").exists() && !dest.join("old-only").exists() && !new.exists());
    }

    #[test]
    fn a_tree_moved_aside_by_an_interrupted_swap_comes_back() {
        let dir = scratch("restore");
        fs::create_dir_all(dir.join(".stage-old-4242/linux-amd64")).unwrap();
        fs::write(dir.join(".stage-old-4242/linux-amd64/metadata.json"), "{}").unwrap();
        fs::create_dir_all(dir.join(".stage-tmp-4242/half")).unwrap();
        remove_leftovers(&dir.join("stage")).unwrap();
        assert!(
            dir.join("stage/linux-amd64/metadata.json").is_file(),
            "last good tree restored"
        );
        assert!(
            !dir.join(".stage-tmp-4242").exists(),
            "half-staged tree removed"
        );
    }
}
