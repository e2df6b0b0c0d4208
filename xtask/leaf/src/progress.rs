//! Running long child processes with a live view: one indicatif bar per job (and per
//! triple inside a cargo job) on a terminal; one plain line per event when stderr is not
//! a terminal or `CI` is set. The failing child's full output is always shown.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cmd::Cmd;

pub struct Reporter {
    multi: MultiProgress,
    /// Bars on a terminal; plain lines otherwise.
    fancy: bool,
    verbose: bool,
}

impl Reporter {
    pub fn new(verbose: bool) -> Reporter {
        let fancy = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let target = if fancy {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Reporter {
            multi: MultiProgress::with_draw_target(target),
            fancy,
            verbose,
        }
    }

    /// A line for the log, printed above any live bars.
    pub fn println(&self, msg: impl AsRef<str>) {
        if self.fancy {
            let _ = self.multi.println(msg.as_ref());
        } else {
            eprintln!("{}", msg.as_ref());
        }
    }

    fn bar(&self, prefix: String) -> ProgressBar {
        let style = ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {wide_msg}")
            .expect("static template");
        let bar = self.multi.add(
            ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(prefix),
        );
        if self.fancy {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    /// Runs `cmd` as job `name`, streaming its output; `on_line` turns a line into
    /// `(sub-bar key, status)` events, e.g. cargo's per-triple progress.
    pub fn run(
        &self,
        name: &str,
        cmd: &Cmd,
        on_line: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<Duration> {
        let start = Instant::now();
        self.println(format!("[{name}] $ {cmd}"));
        let bar = self.bar(name.to_owned());
        let mut subs: BTreeMap<String, ProgressBar> = BTreeMap::new();
        let reader = cmd.reader()?;
        let mut log = Vec::new();
        for line in BufReader::new(&reader).lines() {
            let line = line.with_context(|| format!("reading the output of `{}`", cmd.program))?;
            if let Some((key, status)) = on_line(&line) {
                if self.fancy {
                    let sub = subs
                        .entry(key.clone())
                        .or_insert_with(|| self.bar(format!("  {key}")));
                    sub.set_message(status);
                } else {
                    self.println(format!("[{name}] {key}: {status}"));
                }
            } else if !line.starts_with('{') {
                // JSON lines are cargo's machine messages; people read the rest.
                if self.verbose {
                    self.println(format!("[{name}] {line}"));
                } else {
                    bar.set_message(line.trim().to_owned());
                }
                log.push(line);
            }
        }
        let output = reader
            .try_wait()?
            .context("child still running after its output closed")?;
        let status = output.status;
        for sub in subs.values() {
            sub.finish_and_clear();
        }
        bar.finish_and_clear();
        let took = start.elapsed();
        if !status.success() {
            if !self.verbose {
                self.println(format!("[{name}] output:\n{}", log.join("\n")));
            }
            return Err(cmd.failed(status, ""))
                .with_context(|| format!("[{name}] failed after {took:.1?}"));
        }
        self.println(format!("[{name}] done in {:.1}s", took.as_secs_f64()));
        Ok(took)
    }
}
