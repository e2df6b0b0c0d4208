//! The command value and the one runner. Every external process the xtask starts is a
//! [`Cmd`]: a plain value that can be printed (`--dry-run`, logs), compared (tests,
//! fingerprints) and run. Running happens only here, always in the workspace root with
//! stdin closed, and a failure always reads the same way: the command, its exit status and
//! what it printed.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::process::{ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::paths;
pub use crate::shell::Shell;

/// One external command, fully described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables removed from the environment the child inherits.
    pub unset: Vec<String>,
}

/// The program to start. On Windows a bare name is looked up on PATH with `which`,
/// which honours PATHEXT as a shell does: npm and npx are `npm.cmd` and `npx.cmd` there,
/// and std looks for `NAME.exe` only. Std runs a `.cmd`/`.bat` path through cmd.exe with
/// its arguments escaped for it (Rust 1.77 and later). A name not found is left as it
/// is, so the failure to start names what was asked for.
fn resolve(program: &str, windows: bool) -> Cow<'_, str> {
    if !windows || program.contains(['/', '\\']) {
        return program.into();
    }
    match which::which(program) {
        Ok(path) => path.to_string_lossy().into_owned().into(),
        Err(_) => program.into(),
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Cmd {
    pub fn new(program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        Cmd {
            program: program.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            unset: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args_from(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.unset.push(key.to_owned());
        self
    }

    /// The one place a process is set up: workspace root, the command's own environment
    /// on top of ours, no stdin (a child that prompts must fail, not hang CI).
    fn expression(&self) -> duct::Expression {
        let program = resolve(&self.program, cfg!(windows));
        let e = self
            .unset
            .iter()
            .fold(duct::cmd(program.as_ref(), &self.args), |e, k| {
                e.env_remove(k)
            });
        self.env
            .iter()
            .fold(e, |e, (k, v)| e.env(k, v))
            .dir(paths::root())
            .stdin_null()
            .unchecked()
    }

    fn cannot_start(&self) -> String {
        format!(
            "cannot start `{}`: is it installed and on PATH?",
            self.program
        )
    }

    /// Runs to completion, capturing stdout and stderr; an error only when it cannot
    /// start. The caller judges the exit status.
    pub fn output(&self) -> Result<Output> {
        let out = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .run()
            .with_context(|| self.cannot_start())?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Its stdout, trimmed; a failure carries stderr.
    pub fn read(&self) -> Result<String> {
        let out = self.output()?;
        if !out.status.success() {
            return Err(self.failed(out.status, out.stderr.trim()));
        }
        Ok(out.stdout.trim().to_owned())
    }

    /// Whether it starts and exits 0, output discarded: for probes (`docker info`).
    pub fn succeeds(&self) -> bool {
        self.expression()
            .stdout_null()
            .stderr_null()
            .run()
            .is_ok_and(|o| o.status.success())
    }

    /// Runs with the terminal's stdout and stderr, for commands a person watches
    /// (`docker extension install`); the command line is echoed first.
    pub fn run_attached(&self) -> Result<()> {
        eprintln!("$ {self}");
        let out = self
            .expression()
            .run()
            .with_context(|| self.cannot_start())?;
        if !out.status.success() {
            return Err(self.failed(out.status, ""));
        }
        Ok(())
    }

    /// Starts it in the background with the terminal's output (a dev server).
    pub fn start(&self) -> Result<duct::Handle> {
        eprintln!("$ {self}");
        self.expression()
            .start()
            .with_context(|| self.cannot_start())
    }

    /// Starts it with stdout and stderr merged into one stream of lines, for the progress
    /// view; the caller reads to the end, then asks the handle for the status.
    pub fn reader(&self) -> Result<duct::ReaderHandle> {
        self.expression()
            .stderr_to_stdout()
            .reader()
            .with_context(|| self.cannot_start())
    }

    /// Runs it with a time limit, output captured: after `timeout` it is killed with its
    /// whole process group (what it forked, e.g. a wineserver, dies too). `Err` only when
    /// it cannot start. For binaries under test, whose every outcome is data.
    pub fn run_timed(&self, timeout: Duration) -> io::Result<Timed> {
        let mut cmd = std::process::Command::new(resolve(&self.program, cfg!(windows)).as_ref());
        cmd.args(&self.args)
            .current_dir(paths::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in &self.unset {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let start = Instant::now();
        let mut child = cmd.spawn()?;
        let stdout = Drain::start(child.stdout.take());
        let stderr = Drain::start(child.stderr.take());
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) => {}
                Err(e) => {
                    kill_group(&mut child);
                    let _ = child.wait();
                    return Err(e);
                }
            }
            if start.elapsed() >= timeout {
                kill_group(&mut child);
                child.wait()?;
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let took = start.elapsed();
        Ok(Timed {
            status,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            took,
        })
    }

    /// The error every runner gives for a non-zero exit.
    pub fn failed(&self, status: ExitStatus, output: &str) -> anyhow::Error {
        if output.is_empty() {
            anyhow::anyhow!("`{self}` failed ({status})")
        } else {
            anyhow::anyhow!("`{self}` failed ({status}): {output}")
        }
    }
}

/// What a command run under a time limit did. `status` is `None` when it was killed for
/// running too long.
#[derive(Debug)]
pub struct Timed {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub took: Duration,
}

/// How long to wait for the pipes to close after the child ended: a grandchild (a lingering
/// wineserver, something the binary forked) may hold them open.
const PIPE_GRACE: Duration = Duration::from_millis(500);

#[cfg(unix)]
fn kill_group(child: &mut std::process::Child) {
    // The child leads its own group (process_group(0)): `kill -- -PGID` reaches what it forked.
    let group = format!("-{}", child.id());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !killed {
        let _ = child.kill();
    }
}

#[cfg(not(unix))]
fn kill_group(child: &mut std::process::Child) {
    let _ = child.kill();
}

/// Reads a pipe on a thread so a chatty child never blocks on a full pipe.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    eof: mpsc::Receiver<()>,
}

impl Drain {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Drain {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, eof) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            let buf = buf.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    buf.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(&chunk[..n]);
                }
                let _ = tx.send(());
            });
        }
        Drain { buf, eof }
    }

    fn finish(self) -> Vec<u8> {
        let _ = self.eof.recv_timeout(PIPE_GRACE);
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        buf.clone()
    }
}

impl Cmd {
    /// The command as `shell` would have it typed; `Display` is this with [`Shell::HOST`].
    pub fn display_in(&self, shell: Shell) -> impl fmt::Display + '_ {
        Shown { cmd: self, shell }
    }
}

struct Shown<'a> {
    cmd: &'a Cmd,
    shell: Shell,
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, sh) = (self.cmd, self.shell);
        match sh {
            Shell::Posix => {
                if !c.unset.is_empty() {
                    write!(f, "env -u {} ", c.unset.join(" -u "))?;
                }
                for (k, v) in &c.env {
                    write!(f, "{k}={} ", sh.word(v))?;
                }
                f.write_str(&sh.word(&c.program))?;
            }
            // PowerShell has no per-command environment: the variables are set (or
            // removed) in the session, then the command runs. A quoted program name is a
            // string, not a command, until `&` calls it.
            Shell::PowerShell => {
                for k in &c.unset {
                    write!(f, "Remove-Item Env:{k} -ErrorAction Ignore; ")?;
                }
                // The value of an assignment is an expression: a bare word there would be
                // run as a command, so it is always quoted.
                for (k, v) in &c.env {
                    write!(f, "$env:{k} = {}; ", sh.quoted(v))?;
                }
                let program = sh.word(&c.program);
                if matches!(program, Cow::Owned(_)) {
                    f.write_str("& ")?;
                }
                f.write_str(&program)?;
            }
        }
        for a in &c.args {
            write!(f, " {}", sh.word(a))?;
        }
        Ok(())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_in(Shell::HOST).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell command line for this host's shell: `sh -c` here, `cmd /c` on Windows
    /// (the suite runs these tests under wine too).
    fn shell(unix: &str, windows: &str) -> Cmd {
        if cfg!(windows) {
            Cmd::new("cmd", ["/c", windows])
        } else {
            Cmd::new("sh", ["-c", unix])
        }
    }

    #[test]
    fn printed_commands_paste_into_a_posix_shell() {
        let c = Cmd::new("cargo", ["zigbuild", "--target", "a b", "it's"])
            .env("RUSTFLAGS", "-C link-arg=-O2")
            .env("PLAIN", "x86_64");
        assert_eq!(
            c.display_in(Shell::Posix).to_string(),
            r#"RUSTFLAGS='-C link-arg=-O2' PLAIN=x86_64 cargo zigbuild --target 'a b' 'it'\''s'"#
        );
        let c = Cmd::new("/opt/my tools/npm", ["run", "a,b"]).env_remove("X");
        assert_eq!(
            c.display_in(Shell::Posix).to_string(),
            "env -u X '/opt/my tools/npm' run a,b"
        );
        assert_eq!(c.to_string(), c.display_in(Shell::HOST).to_string());
    }

    #[test]
    fn printed_commands_paste_into_powershell() {
        let c = Cmd::new(
            "cargo",
            ["zigbuild", "--target", "a b", "it's", "x\u{2019}y"],
        )
        .env("RUSTFLAGS", "-C link-arg=-O2")
        .env("PLAIN", "x86_64");
        assert_eq!(
            c.display_in(Shell::PowerShell).to_string(),
            "$env:RUSTFLAGS = '-C link-arg=-O2'; $env:PLAIN = 'x86_64'; \
             cargo zigbuild --target 'a b' 'it''s' 'x\u{2019}\u{2019}y'"
        );
        // A path with spaces is a string to PowerShell until `&` calls it; `\` and a drive
        // letter stay plain; `,` would make an array, `$` would expand, `@` would splat.
        let c = Cmd::new(
            r"C:\Program Files\nodejs\npm.cmd",
            [
                r"C:\src\ext\ui",
                "linux/amd64,linux/arm64",
                "$HOME",
                "@x",
                "reg.io/ext@sha256:ab",
                "",
            ],
        )
        .env_remove("DOCKER_HOST");
        assert_eq!(
            c.display_in(Shell::PowerShell).to_string(),
            r"Remove-Item Env:DOCKER_HOST -ErrorAction Ignore; & 'C:\Program Files\nodejs\npm.cmd' C:\src\ext\ui 'linux/amd64,linux/arm64' '$HOME' '@x' reg.io/ext@sha256:ab ''"
        );
        assert_eq!(
            Cmd::new(r"C:\tools\docker.exe", ["info"])
                .display_in(Shell::PowerShell)
                .to_string(),
            r"C:\tools\docker.exe info"
        );
    }

    #[test]
    fn runs_in_the_workspace_root_and_reports_failures_alike() {
        let pwd = shell("pwd", "cd").read().unwrap();
        assert_eq!(
            std::fs::canonicalize(pwd).unwrap(),
            std::fs::canonicalize(paths::root()).unwrap()
        );
        let c = shell("echo oops >&2; exit 3", "echo oops 1>&2 & exit 3");
        let e = c.read().unwrap_err().to_string();
        // std's own words for an exit status differ per OS.
        let status = if cfg!(windows) {
            "exit code"
        } else {
            "exit status"
        };
        assert_eq!(e, format!("`{c}` failed ({status}: 3): oops"));
        let e = Cmd::new("no-such-program-xtask", ["x"])
            .read()
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot start `no-such-program-xtask`"), "{e}");
        assert!(shell("exit 0", "exit 0").succeeds());
        assert!(!shell("exit 1", "exit 1").succeeds());
    }

    #[test]
    fn env_is_shown_and_passed() {
        let c = shell("echo $XTASK_T", "echo %XTASK_T%").env("XTASK_T", "v");
        if cfg!(windows) {
            assert_eq!(c.to_string(), "$env:XTASK_T = 'v'; cmd /c 'echo %XTASK_T%'");
        } else {
            assert_eq!(c.to_string(), "XTASK_T=v sh -c 'echo $XTASK_T'");
        }
        assert_eq!(c.read().unwrap(), "v");
    }

    #[test]
    fn bare_names_are_looked_up_on_windows_only() {
        assert_eq!(
            resolve("no-such-program-xtask", true),
            "no-such-program-xtask"
        );
        assert_eq!(resolve("./x", true), "./x");
        assert_eq!(resolve(r"C:\x\npm", true), r"C:\x\npm");
        assert_eq!(resolve("cargo", false), "cargo");
    }

    /// npm and npx are `.cmd` scripts on Windows: found through PATHEXT, run through
    /// cmd.exe with their arguments intact (under wine in the suite).
    #[cfg(windows)]
    #[test]
    fn cmd_scripts_are_found_and_run() {
        let dir = paths::target_dir().join("xtask-unit/cmd-script");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xtask-npm.cmd"), "@echo ran %1 %2\r\n").unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        // The test's own PATH: the only variable set process-wide, by this test alone.
        std::env::set_var("PATH", format!("{dir};{path}"));
        let found = resolve("xtask-npm", true);
        assert_eq!(
            found.to_lowercase(),
            dir.join("xtask-npm.cmd").as_str().to_lowercase()
        );
        let out = Cmd::new("xtask-npm", ["--prefix", "a b"]).read().unwrap();
        assert_eq!(out, r#"ran --prefix "a b""#);
    }
}
