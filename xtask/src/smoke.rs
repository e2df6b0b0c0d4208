//! Smoke-run every staged host binary this machine can execute: natively, a foreign Linux
//! CPU under qemu-user, x86_64 Windows under wine; on a Mac, its own Mach-O natively and
//! x86_64 Mach-O under Rosetta 2. What cannot run here (Mach-O off a Mac, arm64 Windows, a
//! missing emulator) is reported as not run, with the reason, never as passed.
//! Wine needs a small shim for Rust binaries: see `wine.rs`.

use std::fmt;
use std::fs;
use std::io;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::binfmt::{Cpu, Os};
use crate::cmd::{Cmd, Timed};

mod wine;
use wine::Wine;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One staged binary and what proves it runs: exit 0 and `expect` somewhere in stdout.
#[derive(Debug, Clone)]
pub struct Case {
    /// Relative to the staged tree.
    pub path: Utf8PathBuf,
    pub os: Os,
    pub cpu: Cpu,
    pub args: Vec<String>,
    pub expect: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    Native,
    /// The emulator's path.
    Qemu(String),
    /// The wine loader's path.
    Wine(String),
    /// x86_64 Mach-O on an Apple silicon Mac, through `arch -x86_64`.
    Rosetta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed { how: How, took: Duration },
    Failed { how: How, detail: String },
    NotRun { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smoked {
    pub path: Utf8PathBuf,
    pub outcome: Outcome,
}

impl Smoked {
    /// One flat object: `path`, `outcome` (`passed`, `failed`, `not_run`) and the
    /// outcome's fields; `took` in seconds, to the millisecond.
    pub fn to_json(&self) -> Value {
        let how = |how: &How| match how {
            How::Native => json!("native"),
            How::Qemu(path) => json!({ "qemu": path }),
            How::Wine(path) => json!({ "wine": path }),
            How::Rosetta => json!("rosetta"),
        };
        let path = self.path.as_str();
        match &self.outcome {
            Outcome::Passed { how: h, took } => json!({
                "path": path,
                "outcome": "passed",
                "how": how(h),
                "took": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            }),
            Outcome::Failed { how: h, detail } => json!({
                "path": path, "outcome": "failed", "how": how(h), "detail": detail,
            }),
            Outcome::NotRun { reason } => json!({
                "path": path, "outcome": "not_run", "reason": reason,
            }),
        }
    }
}

/// This machine and what it has for running foreign binaries.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// `None` on an OS or CPU no host binary is built for.
    pub host: Option<(Os, Cpu)>,
    pub qemu_x86_64: Option<Utf8PathBuf>,
    pub qemu_aarch64: Option<Utf8PathBuf>,
    pub wine: Option<Utf8PathBuf>,
    /// Builds the `ProcessPrng` shim; not needed once the shim is cached.
    pub mingw_gcc: Option<Utf8PathBuf>,
    /// Rosetta 2 runs x86_64 code here (an Apple silicon Mac where it is installed).
    pub rosetta: bool,
}

impl Tools {
    pub fn detect() -> Tools {
        let find = |names: &[&str]| {
            names.iter().find_map(|n| {
                let p = which::which(n).ok()?;
                Utf8PathBuf::from_path_buf(p).ok()
            })
        };
        // Debian's wine64 package puts its loader outside PATH; `wine` is a wrapper that
        // looks for a 32-bit wine first and nags when there is none.
        let wine64 = Utf8Path::new("/usr/lib/wine/wine64");
        Tools {
            host: crate::target::host(),
            qemu_x86_64: find(&["qemu-x86_64-static", "qemu-x86_64"]),
            qemu_aarch64: find(&["qemu-aarch64-static", "qemu-aarch64"]),
            wine: (wine64.is_file().then(|| wine64.to_owned()))
                .or_else(|| find(&["wine64", "wine"])),
            mingw_gcc: find(&["x86_64-w64-mingw32-gcc"]),
            rosetta: has_rosetta(crate::target::host()),
        }
    }
}

/// Rosetta 2 is an optional install on Apple silicon: `arch -x86_64` running Apple's own
/// universal `true` succeeds only where it is installed (without it, `arch` fails with
/// "Bad CPU type in executable"). Asked only on an arm64 Mac.
fn has_rosetta(host: Option<(Os, Cpu)>) -> bool {
    host == Some((Os::Darwin, Cpu::Aarch64))
        && Cmd::new("arch", ["-x86_64", "/usr/bin/true"]).succeeds()
}

/// How a binary for `os`/`cpu` can run on this machine, or why it cannot.
pub fn plan(os: Os, cpu: Cpu, tools: &Tools) -> Result<How, String> {
    let Some(here) = tools.host else {
        return Err("this machine is not one the host binaries are built for".into());
    };
    if here == (os, cpu) {
        return Ok(How::Native);
    }
    match (os, cpu, here) {
        (Os::Linux, _, (Os::Linux, _)) => {
            let (qemu, pkg) = match cpu {
                Cpu::X86_64 => (&tools.qemu_x86_64, "qemu-x86_64"),
                Cpu::Aarch64 => (&tools.qemu_aarch64, "qemu-aarch64"),
                _ => return Err(format!("no emulator here for {cpu} Linux code")),
            };
            match qemu {
                Some(q) => Ok(How::Qemu(q.to_string())),
                None => Err(format!(
                    "{pkg}-static not found (apt-get install qemu-user-static)"
                )),
            }
        }
        (Os::Windows, Cpu::X86_64, (Os::Linux, Cpu::X86_64)) => match &tools.wine {
            Some(w) => Ok(How::Wine(w.to_string())),
            None => Err("wine not found (apt-get install wine64)".into()),
        },
        (Os::Windows, Cpu::Aarch64, _) => {
            Err("nothing here runs arm64 Windows code (wine runs x86_64 PE here)".into())
        }
        (Os::Darwin, Cpu::X86_64, (Os::Darwin, Cpu::Aarch64)) => match tools.rosetta {
            true => Ok(How::Rosetta),
            false => Err(
                "Rosetta 2 is not installed, so this Mac cannot run x86_64 code \
                          (softwareupdate --install-rosetta --agree-to-license)"
                    .into(),
            ),
        },
        (Os::Darwin, Cpu::Aarch64, (Os::Darwin, Cpu::X86_64)) => {
            Err("an Intel Mac cannot run arm64 code".into())
        }
        (Os::Darwin, _, _) => Err(format!("nothing on {} executes Mach-O", here.0)),
        _ => Err(format!(
            "no way to run {os} {cpu} code on {} {}",
            here.0, here.1
        )),
    }
}

/// Where the shim, the wine prefix and scratch copies live (e.g. `target/dist/smoke`).
#[derive(Debug, Clone)]
pub struct Options {
    pub cache_dir: Utf8PathBuf,
    pub timeout: Duration,
}

/// Wine ready to run x86_64 Windows programs in place (the shim built and the prefix
/// created under `opts.cache_dir`): the loader with the environment it needs, to which
/// the caller appends the program and its arguments, or which it hands to cargo as the
/// `x86_64-pc-windows-gnu` runner (the suite's Windows test run).
pub fn wine_in_place(tools: &Tools, opts: &Options) -> Result<Cmd, String> {
    let loader = tools
        .wine
        .as_ref()
        .ok_or("wine not found (apt-get install wine64)")?;
    Ok(Wine::prepare(loader.as_str(), tools, opts)?.in_place())
}

/// Runs every case that can run here, one after another.
pub fn run_all(stage: &Utf8Path, cases: &[Case], tools: &Tools, opts: &Options) -> Vec<Smoked> {
    let mut wine = None;
    let run = |case: &Case| {
        let outcome = match plan(case.os, case.cpu, tools) {
            Err(reason) => Outcome::NotRun { reason },
            Ok(how) => run_one(stage, case, how, &mut wine, tools, opts),
        };
        Smoked {
            path: case.path.clone(),
            outcome,
        }
    };
    cases.iter().map(run).collect()
}

/// `wine` is prepared (shim built, prefix created) on first use, once per `run_all`.
fn run_one(
    stage: &Utf8Path,
    case: &Case,
    how: How,
    wine: &mut Option<Result<Wine, String>>,
    tools: &Tools,
    opts: &Options,
) -> Outcome {
    let exe = stage.join(&case.path);
    let (cmd, scratch) = match &how {
        How::Native => (Cmd::new(exe.as_str(), Vec::<String>::new()), None),
        How::Qemu(qemu) => (Cmd::new(qemu, [exe.as_str()]), None),
        How::Rosetta => (Cmd::new("arch", ["-x86_64", exe.as_str()]), None),
        How::Wine(loader) => {
            let wine = wine.get_or_insert_with(|| Wine::prepare(loader, tools, opts));
            match wine
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|w| w.command(&exe))
            {
                Ok((cmd, scratch)) => (cmd, Some(scratch)),
                Err(reason) => return Outcome::NotRun { reason },
            }
        }
    };
    let ran = cmd
        .args_from(case.args.iter().cloned())
        .run_timed(opts.timeout);
    if let Some(dir) = scratch {
        let _ = fs::remove_dir_all(dir);
    }
    judge(how, ran, &case.expect, opts.timeout)
}

fn judge(how: How, ran: io::Result<Timed>, expect: &str, timeout: Duration) -> Outcome {
    let ran = match ran {
        Ok(r) => r,
        Err(e) => {
            let detail = format!("cannot start it: {e}");
            return Outcome::Failed { how, detail };
        }
    };
    let (stdout, stderr) = (tail(&ran.stdout), tail(&ran.stderr));
    let detail = match ran.status {
        None => format!(
            "timed out after {} s and was killed; stdout: {stdout:?}; stderr: {stderr:?}",
            timeout.as_secs_f64()
        ),
        Some(s) if !s.success() => format!("exited with {s}; stderr: {stderr:?}"),
        Some(_) if !String::from_utf8_lossy(&ran.stdout).contains(expect) => {
            format!("stdout lacks {expect:?}; stdout: {stdout:?}")
        }
        Some(_) => {
            return Outcome::Passed {
                how,
                took: ran.took,
            }
        }
    };
    Outcome::Failed { how, detail }
}

/// The last 2000 characters, trimmed: enough to see why, short enough for one line.
fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    let start = s.char_indices().rev().nth(1999).map_or(0, |(i, _)| i);
    s[start..].to_owned()
}

impl fmt::Display for Smoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = |h: &How| match h {
            How::Native => "natively".to_owned(),
            How::Qemu(q) => format!("under {q}"),
            How::Wine(w) => format!("under {w}"),
            How::Rosetta => "under Rosetta 2".to_owned(),
        };
        match &self.outcome {
            Outcome::Passed { how: h, took } => {
                write!(
                    f,
                    "{}: passed {} in {:.2} s",
                    self.path,
                    how(h),
                    took.as_secs_f64()
                )
            }
            Outcome::Failed { how: h, detail } => {
                write!(f, "{}: FAILED {}: {detail}", self.path, how(h))
            }
            Outcome::NotRun { reason } => write!(f, "{}: not run: {reason}", self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux_x86_64(qemu: bool, wine: bool) -> Tools {
        Tools {
            host: Some((Os::Linux, Cpu::X86_64)),
            qemu_aarch64: qemu.then(|| "/usr/bin/qemu-aarch64-static".into()),
            wine: wine.then(|| "/usr/lib/wine/wine64".into()),
            ..Tools::default()
        }
    }

    #[test]
    fn each_binary_runs_natively_under_an_emulator_or_not_at_all() {
        let t = linux_x86_64(true, true);
        assert_eq!(plan(Os::Linux, Cpu::X86_64, &t), Ok(How::Native));
        assert_eq!(
            plan(Os::Linux, Cpu::Aarch64, &t),
            Ok(How::Qemu("/usr/bin/qemu-aarch64-static".into()))
        );
        assert_eq!(
            plan(Os::Windows, Cpu::X86_64, &t),
            Ok(How::Wine("/usr/lib/wine/wine64".into()))
        );
        assert_eq!(
            plan(Os::Windows, Cpu::Aarch64, &t),
            Err("nothing here runs arm64 Windows code (wine runs x86_64 PE here)".into())
        );
        for cpu in [Cpu::X86_64, Cpu::Aarch64] {
            assert_eq!(
                plan(Os::Darwin, cpu, &t),
                Err("nothing on linux executes Mach-O".into())
            );
        }
        let bare = linux_x86_64(false, false);
        assert_eq!(
            plan(Os::Linux, Cpu::Aarch64, &bare),
            Err("qemu-aarch64-static not found (apt-get install qemu-user-static)".into())
        );
        assert_eq!(
            plan(Os::Windows, Cpu::X86_64, &bare),
            Err("wine not found (apt-get install wine64)".into())
        );
        let mac = Tools {
            host: Some((Os::Darwin, Cpu::Aarch64)),
            ..Tools::default()
        };
        assert_eq!(plan(Os::Darwin, Cpu::Aarch64, &mac), Ok(How::Native));
        assert!(plan(Os::Linux, Cpu::Aarch64, &mac).is_err());
    }

    #[test]
    fn a_mac_runs_its_own_mach_o_and_x86_64_under_rosetta() {
        let apple_silicon = |rosetta| Tools {
            host: Some((Os::Darwin, Cpu::Aarch64)),
            rosetta,
            ..Tools::default()
        };
        let with = apple_silicon(true);
        assert_eq!(plan(Os::Darwin, Cpu::Aarch64, &with), Ok(How::Native));
        assert_eq!(plan(Os::Darwin, Cpu::X86_64, &with), Ok(How::Rosetta));
        let e = plan(Os::Darwin, Cpu::X86_64, &apple_silicon(false)).unwrap_err();
        assert!(e.contains("softwareupdate --install-rosetta"), "{e}");
        let intel = Tools {
            host: Some((Os::Darwin, Cpu::X86_64)),
            ..Tools::default()
        };
        assert_eq!(plan(Os::Darwin, Cpu::X86_64, &intel), Ok(How::Native));
        assert_eq!(
            plan(Os::Darwin, Cpu::Aarch64, &intel),
            Err("an Intel Mac cannot run arm64 code".into())
        );
        // Nothing else on a Mac: Linux and Windows binaries are listed as not run.
        for os in [Os::Linux, Os::Windows] {
            assert!(plan(os, Cpu::Aarch64, &with).is_err(), "{os}");
        }
        let rosetta = Smoked {
            path: "darwin/host-bin".into(),
            outcome: Outcome::Passed {
                how: How::Rosetta,
                took: Duration::from_millis(250),
            },
        };
        assert_eq!(rosetta.to_json()["how"], "rosetta");
        assert_eq!(
            rosetta.to_string(),
            "darwin/host-bin: passed under Rosetta 2 in 0.25 s"
        );
    }

    fn ran(code: Option<i32>, stdout: &str, stderr: &str) -> io::Result<Timed> {
        #[cfg(unix)]
        let status = code.map(|c| std::os::unix::process::ExitStatusExt::from_raw(c << 8));
        #[cfg(windows)]
        let status = code.map(|c| std::os::windows::process::ExitStatusExt::from_raw(c as u32));
        Ok(Timed {
            status,
            stdout: stdout.into(),
            stderr: stderr.into(),
            took: Duration::from_millis(1500),
        })
    }

    #[test]
    fn passing_needs_exit_0_and_the_expected_output() {
        let t = Duration::from_secs(30);
        let judge = |r| judge(How::Native, r, "\"os\"", t);
        assert_eq!(
            judge(ran(Some(0), "{\"os\":\"linux\"}\n", "")),
            Outcome::Passed {
                how: How::Native,
                took: Duration::from_millis(1500)
            }
        );
        let failed = |detail: &str| Outcome::Failed {
            how: How::Native,
            detail: detail.into(),
        };
        assert_eq!(
            judge(ran(Some(0), "hello", "")),
            failed("stdout lacks \"\\\"os\\\"\"; stdout: \"hello\"")
        );
        #[cfg(unix)]
        assert_eq!(
            judge(ran(Some(1), "{\"os\"}", "boom\n")),
            failed("exited with exit status: 1; stderr: \"boom\"")
        );
        assert_eq!(
            judge(ran(None, "started", "")),
            failed("timed out after 30 s and was killed; stdout: \"started\"; stderr: \"\"")
        );
        let missing = judge(Err(io::Error::from(io::ErrorKind::NotFound)));
        assert!(
            matches!(missing, Outcome::Failed { detail, .. } if detail.starts_with("cannot start it:"))
        );
    }

    #[test]
    fn long_output_keeps_its_end() {
        let long = format!("{}END", "x".repeat(5000));
        assert_eq!(tail(long.as_bytes()).len(), 2000);
        assert!(tail(long.as_bytes()).ends_with("END"));
        assert_eq!(tail("  é\n".as_bytes()), "é");
    }

    #[test]
    fn results_serialize_as_flat_json() {
        let results = [
            Smoked {
                path: "linux/host-bin".into(),
                outcome: Outcome::Passed {
                    how: How::Qemu("/usr/bin/qemu-aarch64-static".into()),
                    took: Duration::from_micros(812_345),
                },
            },
            Smoked {
                path: "darwin/host-bin".into(),
                outcome: Outcome::NotRun {
                    reason: "nothing on linux executes Mach-O".into(),
                },
            },
        ];
        assert_eq!(
            serde_json::to_string(&results.each_ref().map(Smoked::to_json)).unwrap(),
            // Keys sorted, as serde_json's `Map` keeps them (and as dist's record always had).
            r#"[{"how":{"qemu":"/usr/bin/qemu-aarch64-static"},"outcome":"passed","path":"linux/host-bin","took":0.812},{"outcome":"not_run","path":"darwin/host-bin","reason":"nothing on linux executes Mach-O"}]"#
        );
        assert_eq!(
            results[0].to_string(),
            "linux/host-bin: passed under /usr/bin/qemu-aarch64-static in 0.81 s"
        );
    }
}
