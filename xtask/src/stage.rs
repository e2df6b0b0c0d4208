//! Staging: the exact file system of each image variant, built in a temporary directory
//! and swapped into `target/dist/stage/` only when complete and checked, so an
//! interrupted or failed run never leaves a tree a later step trusts.

use std::fs;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use xshell::Shell;

use crate::binfmt::{self, Linkage};
use crate::flags::StageCmd;
use crate::plan::{PlatformStage, Source};
use crate::progress::Reporter;
use crate::target::Os;
use crate::{build, paths, ui};

pub const CHECKSUMS: &str = "SHA256SUMS";

impl StageCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let rep = Reporter::new(self.opts.verbose);
        let prepared = build::prepare(sh, &rep, &self.opts, &[])?;
        let plan = &prepared.plan;
        if self.opts.dry_run {
            print!("{plan}");
            return Ok(());
        }
        let _lock = paths::lock_dist()?;
        run(sh, &rep, &prepared)
    }
}

/// Builds what `prepared` plans and stages it.
pub fn run(sh: &Shell, rep: &Reporter, prepared: &build::Prepared) -> Result<()> {
    let (plan, epoch) = (&prepared.plan, prepared.epoch);
    let with_ui = !plan.ui.is_empty();
    if with_ui {
        ui::check_tools(&ui::npm_program())?;
    }
    {
        // The UI (npm, mostly one core) builds beside the host binaries.
        let (bins, ui) = std::thread::scope(|s| {
            let ui = s.spawn(|| if with_ui { ui::build(rep) } else { Ok(()) });
            let bins = build::run(sh, rep, prepared);
            (bins, ui.join().expect("UI build thread panicked"))
        });
        match (bins, ui) {
            (Ok(()), Ok(())) => {}
            (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e),
            (Err(b), Err(u)) => bail!("{b:#}\nand the UI build failed too: {u:#}"),
        }
        let root = paths::stage_dir();
        stage_all(&plan.stages, &root, epoch)?;
        for s in &plan.stages {
            rep.println(format!(
                "staged {} -> {}",
                s.platform,
                root.join(s.platform.stage_name())
            ));
            for (dest, src) in &s.entries {
                if let Source::Binary { target, .. } = src {
                    rep.println(format!(
                        "  /{dest}  ({}: {} {})",
                        target.triple,
                        target.os.format(),
                        target.arch.cpu()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Stages every platform of the plan into `stage_root`, replacing what was there.
pub fn stage_all(stages: &[PlatformStage], stage_root: &Utf8Path, epoch: SystemTime) -> Result<()> {
    let parent = stage_root
        .parent()
        .context("stage directory has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {parent}"))?;
    remove_leftovers(stage_root)?;
    let tmp = parent.join(format!(".stage-tmp-{}", std::process::id()));
    let result = (|| {
        for s in stages {
            stage_platform(s, &tmp.join(s.platform.stage_name()))?;
        }
        normalise_modes(&tmp)?;
        normalise_mtimes(&tmp, epoch)
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

fn stage_platform(s: &PlatformStage, root: &Utf8Path) -> Result<()> {
    let mut sums = Vec::new();
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
                let info = binfmt::sniff_file(path)?;
                let (format, cpu) = target.expected();
                let static_ok = target.os != Os::Linux || info.linkage == Linkage::Static;
                if info.format != format || info.cpu != cpu || !static_ok {
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
                copy_file(path, &to, 0o755)?;
                sums.push(format!("{}  {dest}\n", sha256_hex(&to)?));
            }
        }
    }
    check_binary_dirs(s, root)?;
    fs::write(root.join(CHECKSUMS), sums.concat())
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
            if !matches!(s.entries.get(&rel), Some(Source::Binary { .. })) {
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

/// Every file below `dir`, sorted, so staging order (and any error) is deterministic.
pub fn walk_files(dir: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in d
            .read_dir_utf8()
            .with_context(|| format!("cannot list {d}"))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path().to_owned());
            } else {
                out.push(entry.path().to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One digest of a staged tree: every file's path, mode, mtime and bytes, all of which
/// go into the image layer. Equal digests mean equal layers.
pub fn tree_digest(root: &Utf8Path) -> Result<String> {
    let mut h = Sha256::new();
    for file in walk_files(root)? {
        let rel = file.strip_prefix(root).expect("walk stays below root");
        let mtime = fs::metadata(&file)?
            .modified()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        h.update(rel.as_str());
        h.update(format!("\0{:o}\0{mtime}\0", file_mode(&file)));
        h.update(fs::read(&file).with_context(|| format!("cannot read {file}"))?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(unix)]
fn file_mode(path: &Utf8Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_: &Utf8Path) -> u32 {
    0
}

pub fn sha256_hex(path: &Utf8Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {path}"))?;
    Ok(sha256_bytes_hex(&bytes))
}

pub fn sha256_bytes_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(unix)]
fn set_mode(path: &Utf8Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {path}"))
}

#[cfg(not(unix))]
fn set_mode(_: &Utf8Path, _: u32) -> Result<()> {
    Ok(())
}

/// Directories 0755 whatever the umask, so the layers do not depend on who staged them.
fn normalise_modes(root: &Utf8Path) -> Result<()> {
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        set_mode(&d, 0o755)?;
        for entry in d.read_dir_utf8()? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path().to_owned());
            }
        }
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
    #[cfg(unix)]
    {
        let mut dirs = vec![root.to_owned()];
        let mut i = 0;
        while i < dirs.len() {
            for entry in dirs[i].read_dir_utf8()? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    dirs.push(entry.path().to_owned());
                }
            }
            i += 1;
        }
        for d in dirs.iter().rev() {
            fs::File::open(d)
                .and_then(|f| f.set_times(times))
                .with_context(|| format!("cannot set the mtime of {d}"))?;
        }
    }
    Ok(())
}

/// The timestamp staged files get: `SOURCE_DATE_EPOCH` (the reproducible-builds
/// convention) if set, else the last commit's time.
pub fn source_date_epoch(sh: &xshell::Shell) -> Result<SystemTime> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => parse_epoch(&v)?,
        Err(_) => {
            let out = xshell::cmd!(sh, "git log -1 --format=%ct")
                .quiet()
                .ignore_stderr()
                .read();
            match out.ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(s) => s,
                None => bail!("cannot read the last commit's time (`git log -1 --format=%ct`): set SOURCE_DATE_EPOCH"),
            }
        }
    };
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn parse_epoch(v: &str) -> Result<u64> {
    v.trim()
        .parse::<u64>()
        .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}`: expected whole seconds since 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn checksum_is_sha256_hex() {
        let dir = scratch("sums");
        fs::write(dir.join("f"), "abc").unwrap();
        assert_eq!(
            sha256_hex(&dir.join("f")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
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

    #[test]
    fn source_date_epoch_is_parsed_or_named() {
        assert_eq!(parse_epoch(" 1700000000\n").unwrap(), 1_700_000_000);
        let e = parse_epoch("yesterday").unwrap_err().to_string();
        assert!(e.contains("SOURCE_DATE_EPOCH=`yesterday`"), "{e}");
    }
}
