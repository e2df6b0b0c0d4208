//! The loopback HTTP server the mirrors run on: serves a directory, counts requests per
//! path, and plays the faults a test asks of a path (`Rule`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::{fs, thread};

use camino::Utf8PathBuf;

#[derive(Clone)]
pub(super) enum Rule {
    /// The first `n` requests get this status.
    Status(u16, usize),
    /// Announces the full length, sends half, closes.
    Truncate,
    Redirect(String),
    /// The first `n` requests get headers and then silence for this long.
    Stall(usize, Duration),
    /// Answers after a pause (to overlap two clients).
    Delay(Duration),
}

#[derive(Clone)]
pub(super) struct Server {
    pub(super) base: String,
    pub(super) www: Utf8PathBuf,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    rules: Arc<Mutex<HashMap<String, Rule>>>,
}

impl Server {
    pub(super) fn start(www: Utf8PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = Server {
            base: format!("http://{}", listener.local_addr().unwrap()),
            www,
            hits: Arc::default(),
            rules: Arc::default(),
        };
        let server = s.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let server = server.clone();
                thread::spawn(move || {
                    let _ = server.answer(conn);
                });
            }
        });
        s
    }

    pub(super) fn rule(&self, path: &str, rule: Rule) {
        self.rules.lock().unwrap().insert(path.to_owned(), rule);
    }

    pub(super) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub(super) fn total(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }

    fn answer(&self, mut conn: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
        }
        let n = {
            let mut hits = self.hits.lock().unwrap();
            let n = hits.entry(path.clone()).or_default();
            *n += 1;
            *n
        };
        let rule = self.rules.lock().unwrap().get(&path).cloned();
        let file = path.split('?').next().unwrap().trim_start_matches('/');
        let body = (!file.contains("..")).then(|| fs::read(self.www.join(file)).ok());
        let head = |code: u16, len: usize, extra: &str| {
            format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n"
            )
        };
        match (rule, body.flatten()) {
            (Some(Rule::Status(code, times)), _) if n <= times => {
                conn.write_all(head(code, 5, "").as_bytes())?;
                conn.write_all(b"oops\n")?;
            }
            (Some(Rule::Redirect(to)), _) => {
                conn.write_all(head(302, 0, &format!("Location: {to}\r\n")).as_bytes())?;
            }
            (Some(Rule::Stall(times, pause)), Some(b)) if n <= times => {
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.flush()?;
                thread::sleep(pause);
            }
            (Some(Rule::Truncate), Some(b)) => {
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.write_all(&b[..b.len() / 2])?;
            }
            (rule, Some(b)) => {
                if let Some(Rule::Delay(pause)) = rule {
                    thread::sleep(pause);
                }
                conn.write_all(head(200, b.len(), "").as_bytes())?;
                conn.write_all(&b)?;
            }
            (_, None) => conn.write_all(head(404, 0, "").as_bytes())?,
        }
        conn.flush()?;
        conn.shutdown(std::net::Shutdown::Both)
    }
}
