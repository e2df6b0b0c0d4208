//! `dist`'s proof that each variant's VM service starts, answers and stops, run the way
//! Docker Desktop runs it: the built image as a container with a directory mounted at
//! `/run/guest-services`. It waits for the socket, asks `/health` and `/facts` over it
//! (the system's `curl --unix-socket`), checks the JSON (the facts' `arch` is the
//! variant's), sends SIGTERM (`docker stop -t 10`) and wants exit code 0 and the socket
//! gone. A variant this machine cannot run natively runs under qemu-user: in the engine
//! when the kernel has qemu registered with binfmt_misc, else the staged binary under
//! `qemu-<cpu>-static` on this machine, which the result says.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::build::Prepared;
use crate::cmd::Cmd;
use crate::codegen::GUEST_SERVICES;
use crate::paths;
use crate::progress::Reporter;
use crate::target::{Arch, ImagePlatform};

/// Docker Desktop's own stop timeout, and what the service is given to come up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One variant to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub platform: ImagePlatform,
    /// The locally loaded image of this variant.
    pub image: String,
}

/// What the probes need besides each variant.
#[derive(Debug, Clone)]
pub struct Service {
    /// The socket file name (`vm.exposes.socket`).
    pub socket: String,
    /// The service binary's path in the image (`/vm-service`), for the qemu fallback.
    pub bin: String,
    /// The staged trees (`target/dist/stage`), for the qemu fallback.
    pub stage: Utf8PathBuf,
    /// The workspace version the facts' `version` must report.
    pub version: String,
}

/// How a variant ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    Container,
    /// In the container, the kernel running it through qemu-user (binfmt_misc).
    ContainerQemu,
    /// The staged binary under this qemu-user emulator, on this machine (no binfmt).
    HostQemu(Utf8PathBuf),
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            How::Container => f.write_str("container"),
            How::ContainerQemu => f.write_str("container under qemu-user (binfmt_misc)"),
            How::HostQemu(q) => write!(
                f,
                "staged binary under {q} on this machine (qemu is not enabled in binfmt_misc, so the container cannot run)"
            ),
        }
    }
}

/// The result of one variant's probe; `Err` holds the problem and the service's log.
#[derive(Debug)]
pub struct Probed {
    pub platform: ImagePlatform,
    pub how: Result<How, String>,
    pub took: Duration,
    pub result: Result<(), String>,
}

impl Probed {
    pub fn to_json(&self) -> Value {
        let took = (self.took.as_secs_f64() * 1000.0).round() / 1000.0;
        match (&self.how, &self.result) {
            (Err(reason), _) => {
                json!({"platform": self.platform.to_string(), "outcome": "not_run", "reason": reason})
            }
            (Ok(how), Ok(())) => {
                json!({"platform": self.platform.to_string(), "outcome": "passed", "how": how.to_string(), "took": took})
            }
            (Ok(how), Err(e)) => {
                json!({"platform": self.platform.to_string(), "outcome": "failed", "how": how.to_string(), "took": took, "detail": e})
            }
        }
    }
}

/// What probing the VM service needs, when the image carries one of ours.
impl Service {
    pub fn of(prepared: &Prepared) -> Option<Service> {
        let bin = prepared.service.as_deref()?;
        Some(Service {
            socket: prepared.ext.socket()?.to_owned(),
            bin: format!("/{bin}"),
            stage: paths::stage_dir(),
            version: prepared.ws.version.clone(),
        })
    }
}

/// Runs each variant's VM service; every failure (with the service's log) stops `dist`
/// before a tag moves.
pub fn run_all(
    rep: &Reporter,
    variants: &[Variant],
    service: Option<&Service>,
    probed: &mut Vec<serde_json::Value>,
) -> Result<()> {
    let Some(service) = service else {
        return Ok(());
    };
    let work = paths::dist_dir().join("probe");
    let mut failed = Vec::new();
    for v in variants {
        rep.println(format!("probe {}: {}", v.platform, v.image));
        let p = probe(v, service, &work.join(v.platform.stage_name()));
        match (&p.how, &p.result) {
            (Err(why), _) => rep.println(format!("probe {}: not run: {why}", v.platform)),
            (Ok(how), Ok(())) => rep.println(format!(
                "probe {}: passed in {:.1}s ({how}): /health, /facts, SIGTERM -> exit 0",
                v.platform,
                p.took.as_secs_f64()
            )),
            (Ok(how), Err(e)) => failed.push(format!("{} ({how}): {e}", v.platform)),
        }
        probed.push(p.to_json());
    }
    if !failed.is_empty() {
        bail!(
            "the VM service failed its probe; no tag was moved:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

/// What the probe runs besides docker, checked before anything is built.
pub fn require_tools() -> Result<()> {
    if which::which("curl").is_err() {
        bail!("curl not found: dist asks the VM service over its socket with `curl --unix-socket` (apt-get install curl)");
    }
    Ok(())
}

/// How `platform` can run here, or why it cannot.
pub fn how(platform: ImagePlatform) -> Result<How, String> {
    if Arch::host() == Some(platform.0) {
        return Ok(How::Container);
    }
    let cpu = crate::vm::machine(platform.0);
    let entry = Utf8PathBuf::from(format!("/proc/sys/fs/binfmt_misc/qemu-{cpu}"));
    let registered = std::fs::read_to_string(&entry).is_ok_and(|t| t.starts_with("enabled"));
    if registered {
        return Ok(How::ContainerQemu);
    }
    let names = [format!("qemu-{cpu}-static"), format!("qemu-{cpu}")];
    match names.iter().find_map(|n| which::which(n).ok()) {
        Some(q) => Ok(How::HostQemu(Utf8PathBuf::from_path_buf(q).map_err(|p| format!("{p:?}"))?)),
        None => Err(format!(
            "no way to run {platform} here: no binfmt_misc entry {entry} and no qemu-{cpu}-static (apt-get install qemu-user-static)"
        )),
    }
}

/// Probes one variant; `work` is a scratch directory of its own (the mounted one).
pub fn probe(v: &Variant, service: &Service, work: &Utf8Path) -> Probed {
    let start = Instant::now();
    let how = how(v.platform);
    let result = match &how {
        Err(_) => Ok(()),
        Ok(h) => run(v, service, work, h),
    };
    Probed {
        platform: v.platform,
        how,
        took: start.elapsed(),
        result,
    }
}

fn run(v: &Variant, service: &Service, work: &Utf8Path, how: &How) -> Result<(), String> {
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| format!("cannot clear {work}: {e}"))?;
    }
    std::fs::create_dir_all(work).map_err(|e| format!("cannot create {work}: {e}"))?;
    let socket = work.join(&service.socket);
    let mut running: Box<dyn Running> = match how {
        How::Container | How::ContainerQemu => Box::new(Container::start(v, work)?),
        How::HostQemu(qemu) => Box::new(HostProcess::start(
            qemu,
            &service
                .stage
                .join(v.platform.stage_name())
                .join(service.bin.trim_start_matches('/')),
            &socket,
            work,
        )?),
    };
    let outcome = exercise(v, service, &socket, running.as_mut());
    let log = running.log();
    running.remove();
    outcome.map_err(|e| format!("{e:#}\n--- service log:\n{}", log.trim_end()))
}

/// Up, both endpoints right, a clean stop on SIGTERM.
fn exercise(
    v: &Variant,
    service: &Service,
    socket: &Utf8Path,
    running: &mut dyn Running,
) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    while !socket.exists() {
        if let Some(code) = running.exited()? {
            bail!(
                "the service exited with code {code} before creating {GUEST_SERVICES}/{}",
                service.socket
            );
        }
        if Instant::now() > deadline {
            bail!(
                "no socket {GUEST_SERVICES}/{} within {}s",
                service.socket,
                TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = get(socket, "/health")?;
    if health != json!({"status": "ok"}) {
        bail!("GET /health: expected {{\"status\":\"ok\"}}, found {health}");
    }
    let facts = get(socket, "/facts")?;
    check_facts(&facts, v.platform, &service.version).context("GET /facts")?;
    let stopped = Instant::now();
    let code = running.stop()?;
    let took = stopped.elapsed();
    if code != 0 || took > TIMEOUT {
        bail!(
            "SIGTERM: expected exit code 0 within {}s, found exit code {code} after {:.1}s",
            TIMEOUT.as_secs(),
            took.as_secs_f64()
        );
    }
    if socket.exists() {
        bail!(
            "SIGTERM: expected the service to remove {GUEST_SERVICES}/{}, found it still there",
            service.socket
        );
    }
    Ok(())
}

/// `GET path` over the socket, as JSON.
fn get(socket: &Utf8Path, path: &str) -> Result<Value> {
    let url = format!("http://localhost{path}");
    let body = Cmd::new(
        "curl",
        [
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "5",
            "--unix-socket",
            socket.as_str(),
            &url,
        ],
    )
    .read()
    .with_context(|| format!("GET {path}"))?;
    serde_json::from_str(&body)
        .with_context(|| format!("GET {path}: expected JSON, found `{}`", body.trim()))
}

/// The facts of a service running on `platform`'s CPU, of this workspace's version.
pub fn check_facts(facts: &Value, platform: ImagePlatform, version: &str) -> Result<()> {
    let mut problems = Vec::new();
    let want = platform.0.docker();
    if facts["arch"] != want {
        problems.push(format!(
            "`arch`: expected \"{want}\" (the variant's CPU), found {}",
            facts["arch"]
        ));
    }
    for key in ["kernel", "os", "machine"] {
        if facts[key].as_str().is_none_or(str::is_empty) {
            problems.push(format!(
                "`{key}`: expected a non-empty string, found {}",
                facts[key]
            ));
        }
    }
    for key in ["cpus", "memory_bytes"] {
        if facts[key].as_u64().is_none_or(|n| n == 0) {
            problems.push(format!(
                "`{key}`: expected a positive integer, found {}",
                facts[key]
            ));
        }
    }
    if facts["uptime_seconds"].as_u64().is_none() {
        problems.push(format!(
            "`uptime_seconds`: expected an integer, found {}",
            facts["uptime_seconds"]
        ));
    }
    if facts["version"] != version {
        problems.push(format!(
            "`version`: expected \"{version}\", found {}",
            facts["version"]
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// A running service, in a container or a process.
trait Running {
    /// The exit code once it has exited.
    fn exited(&mut self) -> Result<Option<i64>>;
    /// SIGTERM, then the exit code (after at most `TIMEOUT`, then SIGKILL).
    fn stop(&mut self) -> Result<i64>;
    fn log(&mut self) -> String;
    fn remove(&mut self);
}

struct Container {
    id: String,
}

impl Container {
    fn start(v: &Variant, dir: &Utf8Path) -> Result<Container, String> {
        let mount = format!("{dir}:{GUEST_SERVICES}");
        let cmd = Cmd::new(
            "docker",
            [
                "run",
                "--detach",
                "--platform",
                &v.platform.to_string(),
                "--volume",
                &mount,
                &v.image,
            ],
        );
        let id = cmd.read().map_err(|e| format!("{e:#}"))?.trim().to_owned();
        Ok(Container { id })
    }

    fn inspect(&self, format: &str) -> Result<String> {
        Ok(
            Cmd::new("docker", ["inspect", "--format", format, &self.id])
                .read()?
                .trim()
                .to_owned(),
        )
    }
}

impl Running for Container {
    fn exited(&mut self) -> Result<Option<i64>> {
        let state = self.inspect("{{.State.Running}} {{.State.ExitCode}}")?;
        match state.split_once(' ') {
            Some(("false", code)) => Ok(code.parse().ok()),
            _ => Ok(None),
        }
    }

    fn stop(&mut self) -> Result<i64> {
        let secs = TIMEOUT.as_secs().to_string();
        Cmd::new("docker", ["stop", "--time", &secs, &self.id]).read()?;
        let code = self.inspect("{{.State.ExitCode}}")?;
        code.parse()
            .with_context(|| format!("docker inspect: exit code `{code}`"))
    }

    fn log(&mut self) -> String {
        let out = Cmd::new("docker", ["logs", &self.id]).output();
        out.map(|o| format!("{}{}", o.stdout, o.stderr))
            .unwrap_or_else(|e| format!("(no log: {e:#})"))
    }

    fn remove(&mut self) {
        let _ = Cmd::new("docker", ["rm", "--force", &self.id]).read();
    }
}

/// The staged binary under qemu-user on this machine, its output in a file.
struct HostProcess {
    child: std::process::Child,
    log: Utf8PathBuf,
}

impl HostProcess {
    fn start(
        qemu: &Utf8Path,
        bin: &Utf8Path,
        socket: &Utf8Path,
        work: &Utf8Path,
    ) -> Result<HostProcess, String> {
        let log = work.with_extension("log");
        let file = std::fs::File::create(&log).map_err(|e| format!("cannot create {log}: {e}"))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = std::process::Command::new(qemu)
            .args([bin.as_str(), "--socket", socket.as_str()])
            .stdin(std::process::Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {qemu} {bin}: {e}"))?;
        Ok(HostProcess { child, log })
    }
}

impl Running for HostProcess {
    fn exited(&mut self) -> Result<Option<i64>> {
        Ok(self
            .child
            .try_wait()?
            .map(|s| s.code().map_or(-1, i64::from)))
    }

    fn stop(&mut self) -> Result<i64> {
        Cmd::new("kill", ["-TERM".to_owned(), self.child.id().to_string()]).read()?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(code) = self.exited()? {
                return Ok(code);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let status = self.child.wait()?;
                return Ok(status.code().map_or(137, i64::from));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&mut self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn remove(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_checked_against_the_variant() {
        let p = ImagePlatform(Arch::Arm64);
        let good = json!({"kernel": "6.1", "os": "Linux", "arch": "arm64", "machine": "aarch64",
                          "cpus": 2, "memory_bytes": 1024, "uptime_seconds": 0, "version": "0.1.0"});
        check_facts(&good, p, "0.1.0").unwrap();
        let e = format!(
            "{:#}",
            check_facts(&good, ImagePlatform(Arch::Amd64), "0.2.0").unwrap_err()
        );
        assert!(
            e.contains("`arch`: expected \"amd64\" (the variant's CPU), found \"arm64\"")
                && e.contains("`version`: expected \"0.2.0\""),
            "{e}"
        );
        let e = format!("{:#}", check_facts(&json!({}), p, "0.1.0").unwrap_err());
        assert!(
            e.contains("`cpus`: expected a positive integer, found null"),
            "{e}"
        );
    }
}
