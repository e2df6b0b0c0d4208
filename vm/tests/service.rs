//! The real binary on a real socket, asked by a real HTTP client (curl, as Docker
//! Desktop's proxy is one), stopped by real signals.

use std::fs;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vm-service");

/// A fresh directory under the system's temp dir (short: socket paths max out at 108 bytes).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vms-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Service {
    child: Child,
    socket: PathBuf,
}

impl Service {
    fn start(socket: &Path) -> Self {
        let child = Command::new(BIN)
            .args(["--socket".as_ref(), socket.as_os_str()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut service = Service {
            child,
            socket: socket.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!("vm-service exited with {status} before listening");
            }
            assert!(
                Instant::now() < deadline,
                "no socket at {socket:?} after 10 s"
            );
            sleep(Duration::from_millis(20));
        }
        service
    }

    /// (HTTP status, body) of `METHOD path`, through curl.
    fn request(&self, method: &str, path: &str) -> (u16, Value) {
        let out = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "5", "-X", method])
            .arg("--unix-socket")
            .arg(&self.socket)
            .args(["--write-out", "\n%{http_code}"])
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("curl must be installed to run these tests");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(body).unwrap())
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the exit; returns it with stdout and how long it took.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, String, Duration) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < limit,
                "vm-service still running {limit:?} after the signal"
            );
            sleep(Duration::from_millis(10));
        };
        let took = start.elapsed();
        let mut stdout = String::new();
        let mut pipe = self.child.stdout.take().unwrap();
        pipe.read_to_string(&mut stdout).unwrap();
        (status, stdout, took)
    }
}

/// A failed assertion must not leave a service running after the test.
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_to_end(socket: &Path) -> Output {
    Command::new(BIN)
        .arg("--socket")
        .arg(socket)
        .output()
        .unwrap()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn health_and_facts_are_served() {
    let dir = TempDir::new();
    let service = Service::start(&dir.join("s.sock"));
    assert_eq!(
        service.request("GET", "/health"),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, facts) = service.request("GET", "/facts");
    assert_eq!(status, 200);
    assert_eq!(facts["arch"], host_arch(), "{facts}");
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(facts["kernel"], release.trim());
    let os = facts["os"].as_str().unwrap();
    assert!(os.starts_with("Linux"), "{facts}");
    // The distribution's name rides along when there is an os-release file to read it from.
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    if release.contains("PRETTY_NAME=") {
        assert!(os.starts_with("Linux (") && os.ends_with(')'), "{facts}");
    }
    assert!(facts["cpus"].as_u64().unwrap() >= 1);
    assert!(facts["memory_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(facts["uptime_seconds"].as_u64().is_some());
    assert_eq!(facts["version"], env!("CARGO_PKG_VERSION"));
    service.signal("TERM");
}

#[test]
fn unknown_paths_and_methods_get_json_errors() {
    let dir = TempDir::new();
    let service = Service::start(&dir.join("s.sock"));
    let (status, body) = service.request("GET", "/nope");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/nope"), "{body}");
    let (status, body) = service.request("POST", "/facts");
    assert_eq!(status, 405);
    assert!(body["error"].as_str().unwrap().contains("POST"), "{body}");
    service.signal("TERM");
}

#[test]
fn sigterm_stops_it_within_a_second_with_the_socket_removed() {
    for signal in ["TERM", "INT"] {
        let dir = TempDir::new();
        let socket = dir.join("s.sock");
        let mut service = Service::start(&socket);
        service.signal(signal);
        let (status, _, took) = service.wait(Duration::from_secs(5));
        assert!(status.success(), "SIG{signal}: exit {status}");
        assert!(took < Duration::from_secs(1), "SIG{signal}: took {took:?}");
        assert!(!socket.exists(), "SIG{signal}: socket left behind");
    }
}

#[test]
fn one_log_line_per_request() {
    let dir = TempDir::new();
    let mut service = Service::start(&dir.join("s.sock"));
    service.request("GET", "/health");
    service.request("GET", "/facts");
    service.request("GET", "/missing");
    service.signal("TERM");
    let (_, stdout, _) = service.wait(Duration::from_secs(5));
    let requests: Vec<&str> = stdout.lines().filter(|l| l.starts_with("GET ")).collect();
    assert_eq!(requests.len(), 3, "{stdout}");
    assert!(requests[0].starts_with("GET /health 200 "), "{stdout}");
    assert!(requests[2].starts_with("GET /missing 404 "), "{stdout}");
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = TempDir::new();
    let socket = dir.join("s.sock");
    drop(UnixListener::bind(&socket).unwrap()); // the file stays, nobody listens
    let mut service = Service::start(&socket);
    assert_eq!(service.request("GET", "/health").0, 200);
    service.signal("TERM");
    let (_, stdout, _) = service.wait(Duration::from_secs(5));
    assert!(stdout.contains("removed the stale socket"), "{stdout}");
}

#[test]
fn a_regular_file_at_the_path_is_refused_and_kept() {
    let dir = TempDir::new();
    let path = dir.join("notes.sock");
    fs::write(&path, "precious").unwrap();
    let out = run_to_end(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a socket"), "{stderr}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn a_live_socket_is_not_taken_over() {
    let dir = TempDir::new();
    let socket = dir.join("s.sock");
    let first = Service::start(&socket);
    let out = run_to_end(&socket);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another process is listening"), "{stderr}");
    assert_eq!(first.request("GET", "/health").0, 200);
    first.signal("TERM");
}

#[test]
fn an_unbindable_path_is_a_clear_error() {
    let dir = TempDir::new();
    let path = dir.join("missing-dir/s.sock");
    let out = run_to_end(&path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {}", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let mut child = Command::new(BIN)
        .arg("--socket")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(2));
    assert!(stderr.contains("--socket needs a PATH"), "{stderr}");
    assert!(stderr.contains("usage: vm-service"), "{stderr}");
}
