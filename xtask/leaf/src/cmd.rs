//! The command value and the one runner. Every external process the xtask starts is a
//! [`Cmd`]: a plain value that can be printed (`--dry-run`, logs), compared (tests,
//! fingerprints) and run. Running happens only here, always in the workspace root with
//! stdin closed, and a failure always reads the same way: the command, its exit status and
//! what it printed.

use std::fmt;
use std::io::{self, Read};
use std::process::{ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::paths;

/// One external command, fully described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables removed from the environment the child inherits.
    pub unset: Vec<String>,
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
        let e = self
            .unset
            .iter()
            .fold(duct::cmd(&self.program, &self.args), |e, k| e.env_remove(k));
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
        let mut cmd = std::process::Command::new(&self.program);
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

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.unset.is_empty() {
            write!(f, "env -u {} ", self.unset.join(" -u "))?;
        }
        for (k, v) in &self.env {
            write!(f, "{k}={} ", shell_word(v))?;
        }
        f.write_str(&self.program)?;
        for a in &self.args {
            write!(f, " {}", shell_word(a))?;
        }
        Ok(())
    }
}

/// `s` as one word a POSIX shell reads back unchanged: printed plans can be pasted.
fn shell_word(s: &str) -> std::borrow::Cow<'_, str> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', r"'\''")).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_commands_paste_into_a_shell() {
        let c = Cmd::new("cargo", ["zigbuild", "--target", "a b", "it's"])
            .env("RUSTFLAGS", "-C link-arg=-O2")
            .env("PLAIN", "x86_64");
        assert_eq!(
            c.to_string(),
            r#"RUSTFLAGS='-C link-arg=-O2' PLAIN=x86_64 cargo zigbuild --target 'a b' 'it'\''s'"#
        );
    }

    #[test]
    fn runs_in_the_workspace_root_and_reports_failures_alike() {
        let pwd = Cmd::new("pwd", Vec::<String>::new()).read().unwrap();
        assert_eq!(
            std::fs::canonicalize(pwd).unwrap(),
            std::fs::canonicalize(paths::root()).unwrap()
        );
        let e = Cmd::new("sh", ["-c", "echo oops >&2; exit 3"])
            .read()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "`sh -c 'echo oops >&2; exit 3'` failed (exit status: 3): oops"
        );
        let e = Cmd::new("no-such-program-xtask", ["x"])
            .read()
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot start `no-such-program-xtask`"), "{e}");
        assert!(Cmd::new("true", Vec::<String>::new()).succeeds());
        assert!(!Cmd::new("false", Vec::<String>::new()).succeeds());
    }

    #[test]
    fn env_is_shown_and_passed() {
        let c = Cmd::new("sh", ["-c", "echo $XTASK_T"]).env("XTASK_T", "v");
        assert_eq!(c.to_string(), "XTASK_T=v sh -c 'echo $XTASK_T'");
        assert_eq!(c.read().unwrap(), "v");
    }
}
