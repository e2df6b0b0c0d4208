//! A real container registry for the image tests: Debian's `docker-registry`
//! (distribution 2.8) on a free 127.0.0.1 port, with its storage in a fresh directory
//! under `target/it/registries/`, killed (and its storage removed) when dropped. Also
//! the docker prerequisites the image tests share.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

use super::{on_path, require, root};

/// The Docker daemon answers and the buildx plugin is installed.
pub fn docker_ready() -> bool {
    let daemon = on_path("docker")
        && Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty());
    require(
        "a running Docker daemon (`docker info`)",
        daemon,
        "apt-get install docker.io, then start it: `dockerd >/tmp/dockerd.log 2>&1 &`",
    ) && require(
        "docker buildx (`docker buildx version`)",
        Command::new("docker")
            .args(["buildx", "version"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "copy Debian's docker-buildx plugin to ~/.docker/cli-plugins/ (see .ci/install.sh)",
    )
}

pub struct Registry {
    child: Option<Child>,
    port: u16,
    /// config.yml, registry.log and data/ (the storage).
    dir: Utf8PathBuf,
    options: Options,
}

/// How a registry differs from the plain one.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Storage in memory: distribution 2.8's file storage rewrites a tag's link file in
    /// place, so the several concurrent PUTs of one tag that a containerd-store push
    /// makes can let a HEAD read it half-written (an HTTP 500, seen 2 times in 106).
    pub in_memory: bool,
    /// htpasswd auth with this user and password.
    pub login: Option<(String, String)>,
}

impl Registry {
    /// Starts a registry with empty storage. `None` when `docker-registry` is missing
    /// outside CI (the test is skipped; under CI `require` fails it instead).
    pub fn start() -> Option<Registry> {
        Registry::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Option<Registry> {
        if !require(
            "docker-registry",
            on_path("docker-registry"),
            "apt-get install docker-registry",
        ) {
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = root().join("target/it/registries").join(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data")).unwrap();
        // Another process may take the port between our probe and the registry's bind:
        // then the registry exits and we try another port.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut reg = Registry {
                child: None,
                port,
                dir: dir.clone(),
                options: options.clone(),
            };
            match reg.spawn() {
                Ok(()) => return Some(reg),
                Err(e) => last = e,
            }
        }
        panic!("docker-registry did not start: {last}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let config = self.dir.join("config.yml");
        let storage = if self.options.in_memory {
            "  inmemory: {}\n".to_owned()
        } else {
            format!(
                "  filesystem:\n    rootdirectory: {}\n",
                self.dir.join("data")
            )
        };
        let mut text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n\
             storage:\n{storage}  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: xtask-tests\n",
            self.port
        );
        if let Some((user, password)) = &self.options.login {
            // bcrypt is all distribution accepts; cost 5 because it checks every request.
            let out = Command::new("htpasswd")
                .args(["-Bbn", "-C", "5", user, password])
                .output()
                .map_err(|e| format!("cannot run htpasswd (apt-get install apache2-utils): {e}"))?;
            let file = self.dir.join("htpasswd");
            fs::write(&file, out.stdout).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: xtask-tests\n    path: {file}\n"
            ));
        }
        fs::write(&config, text).unwrap();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "it exited ({status}); its log:\n{}",
                    fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
                ));
            }
            // 401 is an auth registry's answer to a request without credentials.
            if matches!(self.http("GET", "/v2/", &[]), Ok((200 | 401, _, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!("GET /v2/ on {} never answered 200", self.addr()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/name`
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr())
    }

    /// Kills the registry now (its storage stays, for `restart`).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("docker-registry did not restart on {}: {e}", self.addr());
        }
    }

    /// The manifest or index bytes `reference` resolves to, read the way xtask reads them
    /// (`docker buildx imagetools inspect --raw`); `None` when the registry says not found.
    pub fn raw_manifest(&self, reference: &str) -> Option<Vec<u8>> {
        let out = Command::new("docker")
            .args(["buildx", "imagetools", "inspect", "--raw", reference])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run docker buildx");
        if out.status.success() {
            return Some(out.stdout);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("not found") || err.contains("manifest unknown") {
            return None;
        }
        panic!("`docker buildx imagetools inspect --raw {reference}` failed: {err}");
    }

    /// `sha256:<hex>` of the bytes `reference` resolves to.
    pub fn manifest_digest(&self, reference: &str) -> Option<String> {
        self.raw_manifest(reference)
            .map(|raw| format!("sha256:{}", xtask::digest::sha256_bytes_hex(&raw)))
    }

    pub fn tag_exists(&self, reference: &str) -> bool {
        self.manifest_digest(reference).is_some()
    }

    /// The digest the registry itself reports for `name:reference`
    /// (`Docker-Content-Digest` of a HEAD request), independent of buildx.
    pub fn content_digest(&self, name: &str, reference: &str) -> Option<String> {
        let accept = [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
        .join(", ");
        let (status, headers, _) = self
            .http(
                "HEAD",
                &format!("/v2/{name}/manifests/{reference}"),
                &[("Accept", &accept)],
            )
            .expect("registry not answering");
        match status {
            200 => Some(
                header(&headers, "docker-content-digest")
                    .expect("no Docker-Content-Digest")
                    .to_owned(),
            ),
            404 => None,
            s => panic!("HEAD {name}:{reference}: HTTP {s}"),
        }
    }

    /// A manifest or index of repository `name`, by tag or digest, as JSON.
    pub fn manifest(&self, name: &str, reference: &str) -> serde_json::Value {
        let accept = [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
        ]
        .join(", ");
        let (status, _, body) = self
            .http(
                "GET",
                &format!("/v2/{name}/manifests/{reference}"),
                &[("Accept", &accept)],
            )
            .expect("registry not answering");
        assert_eq!(status, 200, "GET {name}:{reference}");
        serde_json::from_slice(&body).unwrap()
    }

    /// A blob of repository `name`.
    pub fn blob(&self, name: &str, digest: &str) -> Vec<u8> {
        let (status, _, body) = self
            .http("GET", &format!("/v2/{name}/blobs/{digest}"), &[])
            .expect("registry not answering");
        assert_eq!(status, 200, "GET blob {digest} of {name}");
        body
    }

    /// Every tag of repository `name`, sorted (empty when the repository does not exist).
    pub fn tags(&self, name: &str) -> Vec<String> {
        let (status, _, body) = self
            .http("GET", &format!("/v2/{name}/tags/list"), &[])
            .expect("registry not answering");
        if status == 404 {
            return Vec::new();
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        tags.sort();
        tags
    }

    /// One HTTP/1.1 request: (status, headers, body).
    #[allow(clippy::type_complexity)]
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
        let addr = ([127, 0, 0, 1], self.port).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some((user, password)) = &self.options.login {
            let basic = base64(format!("{user}:{password}").as_bytes());
            req.push_str(&format!("Authorization: Basic {basic}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of headers"))?;
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let hdrs: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = resp[split + 4..].to_vec();
        if header(&hdrs, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
        }
        Ok((status, hdrs, body))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0")
        .port()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Standard base64 with padding, as HTTP basic auth and docker's config.json spell it.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
