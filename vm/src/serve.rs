//! The server: one current-thread runtime, one task per connection, HTTP/1.1 by hyper,
//! and a clean stop on SIGTERM or SIGINT.

use std::convert::Infallible;
use std::future::poll_fn;
use std::path::Path;
use std::task::Poll;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::{routes, socket};

/// Serves on `path` until SIGTERM or SIGINT, then removes the socket file and returns.
pub fn run(path: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(path))
}

async fn serve(path: &Path) -> Result<(), String> {
    // Handlers first, socket second: as PID 1 of its container the service gets no
    // default SIGTERM action from the kernel, so a client that sees the socket must be
    // able to rely on SIGTERM stopping it.
    let signal_error = |e| format!("cannot install a signal handler: {e}");
    let mut term = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_error)?;

    let (listener, file) = socket::bind(path)?;
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| UnixListener::from_std(listener))
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    println!(
        "vm-service {}: listening on {}",
        env!("CARGO_PKG_VERSION"),
        path.display()
    );
    // Dropped with the runtime when a signal comes: open connections end with it, which
    // is what "stops within a second" asks (Docker sends SIGKILL after its grace period).
    tokio::spawn(accept(listener));

    let name = poll_fn(|cx| {
        if term.poll_recv(cx).is_ready() {
            Poll::Ready("SIGTERM")
        } else if int.poll_recv(cx).is_ready() {
            Poll::Ready("SIGINT")
        } else {
            Poll::Pending
        }
    })
    .await;
    file.remove();
    println!("vm-service: {name}, stopped");
    Ok(())
}

async fn accept(listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let connection = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(handle));
                    if let Err(e) = connection.await {
                        eprintln!("vm-service: connection: {e}");
                    }
                });
            }
            Err(e) => {
                // E.g. out of file descriptors: say so, and do not spin on it.
                eprintln!("vm-service: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let start = Instant::now();
    let reply = routes::respond(request.method(), request.uri().path());
    // One line per request on stdout: Docker Desktop shows the container's log.
    println!(
        "{} {} {} {:.1}ms",
        request.method(),
        request.uri(),
        reply.status.as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(allow) = reply.allow {
        headers.insert(ALLOW, HeaderValue::from_static(allow));
    }
    Ok(response)
}
