//! The extension's UI: a Vite + React app in `ui/`, built into `ui/dist`, which is staged at
//! metadata.json's `ui.*.root`. npm runs only when its inputs changed since its last success:
//! - `npm ci` when `ui/package-lock.json` differs from the one last installed (stamp in
//!   `ui/node_modules/`, which `npm ci` itself wipes);
//! - `npm run build` when a source differs from the last build, or `ui/dist` is no longer
//!   what that build wrote (stamp in `target/dist/`, outside the staged tree).
//!
//! npm is found on PATH, or named by `XTASK_NPM` (a program name or path; tests set it to a
//! name that does not exist to check the missing-npm error).

use std::fs;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::cmd::Cmd;
use crate::digest::{self, hash_files, walk_files};
use crate::progress::Reporter;
use crate::{paths, pins};

fn install_fix() -> String {
    let (major, minor) = pins::node_min();
    format!(
        "install Node.js {major}.{minor} or later with npm (https://nodejs.org, or \
         `apt-get install nodejs npm` where the distribution has it), or run `bash .ci/install.sh`"
    )
}

/// The directory whose contents are staged at metadata.json's `ui.*.root`.
pub fn output_dir() -> Utf8PathBuf {
    paths::ui_dir().join("dist")
}

/// The npm program: `XTASK_NPM` if set, else `npm`.
pub fn npm_program() -> String {
    let name = std::env::var("XTASK_NPM")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "npm".to_owned());
    // On Windows npm is `npm.cmd`: `which` honours PATHEXT, starting a process does not.
    match which::which(&name) {
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(_) => name,
    }
}

/// `npm ci`, with `--prefix` because a `Cmd` runs in the caller's directory.
pub fn npm_ci(npm: &str) -> Cmd {
    let ui = paths::ui_dir();
    Cmd::new(
        npm,
        ["--prefix", ui.as_str(), "ci", "--no-audit", "--no-fund"],
    )
}

/// `npm run build`: `vite build` into `ui/dist` (it transpiles without type-checking).
pub fn npm_build(npm: &str) -> Cmd {
    let ui = paths::ui_dir();
    Cmd::new(npm, ["--prefix", ui.as_str(), "run", "build"])
}

/// `npm run typecheck`: `tsc --noEmit`, run beside the build (it is the slower of the two,
/// and neither needs the other's output).
pub fn npm_typecheck(npm: &str) -> Cmd {
    let ui = paths::ui_dir();
    Cmd::new(npm, ["--prefix", ui.as_str(), "run", "typecheck"])
}

/// Every command `build` may run, for `--dry-run` (each is skipped when its inputs are unchanged).
pub fn commands(npm: &str) -> Vec<Cmd> {
    vec![npm_ci(npm), npm_typecheck(npm), npm_build(npm)]
}

/// Installs the UI's dependencies and builds it into `output_dir()`, each only if needed.
pub fn build(rep: &Reporter) -> Result<()> {
    build_with(rep, &npm_program())
}

/// `build` with the npm program given, for tests that must not change the environment.
pub fn build_with(rep: &Reporter, npm: &str) -> Result<()> {
    check_tools(npm)?;
    let ui = paths::ui_dir();
    // Two builds at once (parallel test binaries, two terminals) would have one `npm ci`
    // delete the node_modules the other is reading.
    let _lock = lock_ui_dir()?;

    install_locked(rep, npm)?;

    let inputs = hash_files(&paths::root(), &build_inputs(&ui, &paths::metadata_json())?)?;
    let out = output_dir();
    let build_stamp = paths::dist_dir().join("ui-build.stamp");
    let last = read_stamp(&build_stamp).and_then(|s| BuildStamp::parse(&s));
    if !needs_build(&inputs, output_hash(&out)?.as_deref(), last.as_ref()) {
        rep.println("ui: build skipped (no source changed)");
        return Ok(());
    }
    let (checked, built) = std::thread::scope(|s| {
        let checked = s.spawn(|| rep.run("ui: typecheck", &npm_typecheck(npm), |_| None));
        let built = rep.run("ui: build", &npm_build(npm), |_| None);
        (checked.join().expect("typecheck thread panicked"), built)
    });
    built?;
    checked?;
    let Some(output) = output_hash(&out)? else {
        bail!(
            "`{}` succeeded but wrote no {out}/index.html",
            npm_build(npm)
        );
    };
    write_stamp(&build_stamp, &BuildStamp { inputs, output }.to_string())
}

/// `npm ci` when the lock file changed since the last install; true if it ran.
pub fn install(rep: &Reporter) -> Result<bool> {
    let npm = npm_program();
    check_tools(&npm)?;
    let _lock = lock_ui_dir()?;
    install_locked(rep, &npm)
}

fn install_locked(rep: &Reporter, npm: &str) -> Result<bool> {
    let ui = paths::ui_dir();
    let lock = ui.join("package-lock.json");
    let lock_sha = fs::read(&lock)
        .map(|bytes| digest::sha256_bytes_hex(&bytes))
        .with_context(|| format!("cannot read {lock}: the UI's dependencies must be locked"))?;
    let lock_stamp = ui.join("node_modules/.xtask-lock-sha256");
    if needs_install(&lock_sha, read_stamp(&lock_stamp).as_deref()) {
        rep.run("ui: npm ci", &npm_ci(npm), |_| None)?;
        write_stamp(&lock_stamp, &lock_sha)?;
        Ok(true)
    } else {
        rep.println("ui: npm ci skipped (lock unchanged)");
        Ok(false)
    }
}

/// Node.js (new enough) and npm, with the fix; cheap, so callers can check before minutes
/// of other work.
/// Node.js and npm are on PATH and Node is new enough; its version (`v22.20.0`). Asked
/// of `node` once per process: `dist` checks it up front and again before the UI build.
pub fn check_tools(npm: &str) -> Result<String> {
    let node = which::which("node").map_err(|_| {
        anyhow::anyhow!(
            "building the UI needs Node.js, but `node` is not on PATH: {}",
            install_fix()
        )
    })?;
    which::which(npm).map_err(|_| {
        anyhow::anyhow!(
            "building the UI needs npm, but `{npm}` is not on PATH: {}",
            install_fix()
        )
    })?;
    static VERSION: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let version = VERSION
        .get_or_init(|| {
            Cmd::new(&node.to_string_lossy(), ["--version"])
                .output()
                .map(|o| o.stdout.trim().to_owned())
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)?;
    match parse_node_version(&version) {
        Some(v) if v >= pins::node_min() => Ok(version),
        _ => bail!(
            "building the UI needs Node.js {}.{} or later, but `node --version` says {version:?}: {}",
            pins::node_min().0,
            pins::node_min().1,
            install_fix()
        ),
    }
}

/// `v20.19.2` -> `(20, 19)`.
pub fn parse_node_version(s: &str) -> Option<(u64, u64)> {
    let mut parts = s.trim().strip_prefix('v')?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `npm ci` is due unless the lock's hash is the one recorded after the last install.
pub fn needs_install(lock_sha: &str, stamp: Option<&str>) -> bool {
    stamp.map(str::trim) != Some(lock_sha)
}

/// What the last successful build read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStamp {
    pub inputs: String,
    pub output: String,
}

impl BuildStamp {
    pub fn parse(s: &str) -> Option<BuildStamp> {
        let mut inputs = None;
        let mut output = None;
        for line in s.lines() {
            match line.split_once(' ') {
                Some(("inputs", v)) => inputs = Some(v.to_owned()),
                Some(("output", v)) => output = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(BuildStamp {
            inputs: inputs?,
            output: output?,
        })
    }
}

impl std::fmt::Display for BuildStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "inputs {}", self.inputs)?;
        writeln!(f, "output {}", self.output)
    }
}

/// A build is due unless the sources hash as they did at the last build AND `ui/dist` is
/// still what that build wrote: another target directory (its own stamp) may have rebuilt
/// `ui/dist` from other sources since, and a missing `ui/dist` (`output` None) is rebuilt.
pub fn needs_build(inputs: &str, output: Option<&str>, last: Option<&BuildStamp>) -> bool {
    match (output, last) {
        (Some(out), Some(last)) => last.inputs != inputs || last.output != out,
        _ => true,
    }
}

/// The files whose change changes the built UI, sorted: sources, public assets, the page, the
/// npm and tool configuration, and the metadata the binary names come from.
pub fn build_inputs(ui: &Utf8Path, metadata: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    let mut files = Vec::new();
    for dir in ["src", "public"] {
        let dir = ui.join(dir);
        if dir.exists() {
            files.extend(walk_files(&dir)?);
        }
    }
    for entry in ui
        .read_dir_utf8()
        .with_context(|| format!("cannot list {ui}"))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let config = (name.starts_with("vite.config.") || name.starts_with("tsconfig"))
            && (name.ends_with(".json")
                || name.ends_with(".ts")
                || name.ends_with(".js")
                || name.ends_with(".mjs"));
        let npm = matches!(name, "index.html" | "package.json" | "package-lock.json");
        if (config || npm) && entry.file_type()?.is_file() {
            files.push(entry.path().to_owned());
        }
    }
    files.push(metadata.to_owned());
    files.sort();
    Ok(files)
}

/// The hash of everything in `dir`, or None when there is no `dir/index.html` to stage.
pub fn output_hash(dir: &Utf8Path) -> Result<Option<String>> {
    if !dir.join("index.html").is_file() {
        return Ok(None);
    }
    hash_files(dir, &walk_files(dir)?).map(Some)
}

/// An exclusive lock on the `ui/` directory, held until the value drops; None where a
/// directory cannot be opened as a file (Windows), which only loses the protection.
pub fn lock_ui_dir() -> Result<Option<fs::File>> {
    let ui = paths::ui_dir();
    let Ok(dir) = fs::File::open(&ui) else {
        return Ok(None);
    };
    dir.lock()
        .with_context(|| format!("cannot lock {ui} against a concurrent UI build"))?;
    Ok(Some(dir))
}

fn read_stamp(path: &Utf8Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn write_stamp(path: &Utf8Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(inputs: &str, output: &str) -> BuildStamp {
        BuildStamp {
            inputs: inputs.into(),
            output: output.into(),
        }
    }

    #[test]
    fn install_runs_only_when_the_lock_changed() {
        assert!(needs_install("abc", None), "never installed");
        assert!(needs_install("abc", Some("def")), "lock changed");
        assert!(!needs_install("abc", Some("abc\n")), "same lock");
    }

    #[test]
    fn build_runs_only_when_sources_or_output_changed() {
        let last = stamp("in1", "out1");
        assert!(!needs_build("in1", Some("out1"), Some(&last)));
        assert!(
            needs_build("in2", Some("out1"), Some(&last)),
            "a source changed"
        );
        assert!(
            needs_build("in1", Some("out2"), Some(&last)),
            "ui/dist rebuilt by someone else"
        );
        assert!(needs_build("in1", None, Some(&last)), "ui/dist missing");
        assert!(needs_build("in1", Some("out1"), None), "never built");
    }

    #[test]
    fn stamp_round_trips_and_rejects_partial_text() {
        let s = stamp("aa", "bb");
        assert_eq!(BuildStamp::parse(&s.to_string()), Some(s));
        assert_eq!(BuildStamp::parse("inputs aa\n"), None);
        assert_eq!(BuildStamp::parse(""), None);
    }

    #[test]
    fn node_versions() {
        assert_eq!(parse_node_version("v20.20.2\n"), Some((20, 20)));
        assert_eq!(parse_node_version("v22.1.0"), Some((22, 1)));
        assert_eq!(parse_node_version("20.1.0"), None);
        assert_eq!(parse_node_version("garbage"), None);
        assert!(Some((20, 18)) < Some(pins::node_min()) && Some((21, 0)) > Some(pins::node_min()));
    }

    /// A scratch `ui/` below the workspace's target dir, removed and made anew per test.
    fn scratch(name: &str) -> Utf8PathBuf {
        let dir = paths::target_dir().join("xtask-unit/ui").join(name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["ui/src/components", "ui/node_modules/x", "ui/dist"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        for (f, text) in [
            ("ui/src/main.tsx", "main"),
            ("ui/src/components/A.tsx", "a"),
            ("ui/index.html", "<html>"),
            ("ui/package.json", "{}"),
            ("ui/package-lock.json", "{}"),
            ("ui/vite.config.ts", "cfg"),
            ("ui/tsconfig.json", "{}"),
            ("ui/README.md", "not an input"),
            ("ui/node_modules/x/index.js", "not an input"),
            ("ui/dist/index.html", "built"),
            ("metadata.json", "{}"),
        ] {
            fs::write(dir.join(f), text).unwrap();
        }
        dir
    }

    #[test]
    fn inputs_are_sources_and_config_only() {
        let dir = scratch("inputs");
        let files = build_inputs(&dir.join("ui"), &dir.join("metadata.json")).unwrap();
        // `/`-separated whatever the host, to compare with one list.
        let rel: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&dir).unwrap().as_str().replace('\\', "/"))
            .collect();
        assert_eq!(
            rel,
            [
                "metadata.json",
                "ui/index.html",
                "ui/package-lock.json",
                "ui/package.json",
                "ui/src/components/A.tsx",
                "ui/src/main.tsx",
                "ui/tsconfig.json",
                "ui/vite.config.ts",
            ]
        );
    }

    #[test]
    fn hashes_follow_content_and_names() {
        let dir = scratch("hashes");
        let ui = dir.join("ui");
        let inputs = || {
            hash_files(
                &dir,
                &build_inputs(&ui, &dir.join("metadata.json")).unwrap(),
            )
            .unwrap()
        };
        let before = inputs();
        assert_eq!(before, inputs(), "stable");
        fs::write(ui.join("README.md"), "edited").unwrap();
        assert_eq!(before, inputs(), "README.md is no input");
        fs::write(ui.join("src/components/A.tsx"), "b").unwrap();
        let edited = inputs();
        assert_ne!(before, edited, "a source changed");
        fs::rename(
            ui.join("src/components/A.tsx"),
            ui.join("src/components/B.tsx"),
        )
        .unwrap();
        assert_ne!(edited, inputs(), "a renamed source changes the hash");

        let out = output_hash(&ui.join("dist"))
            .unwrap()
            .expect("dist has index.html");
        fs::write(ui.join("dist/extra.js"), "x").unwrap();
        assert_ne!(Some(out), output_hash(&ui.join("dist")).unwrap());
        fs::remove_file(ui.join("dist/index.html")).unwrap();
        assert_eq!(output_hash(&ui.join("dist")).unwrap(), None);
    }

    #[test]
    fn commands_run_npm_in_ui() {
        let ui = paths::ui_dir();
        let cmds = commands("npm");
        assert_eq!(cmds[0].args[..3], ["--prefix", ui.as_str(), "ci"]);
        assert_eq!(cmds[1].args, ["--prefix", ui.as_str(), "run", "typecheck"]);
        assert_eq!(cmds[2].args, ["--prefix", ui.as_str(), "run", "build"]);
    }
}
