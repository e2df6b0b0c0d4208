//! What each request gets, as a pure function of method and path (the server in `serve`
//! only moves bytes), so every route and error is unit-tested without a socket.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::facts;

pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    /// Set on 405: the methods the path does take (HTTP wants an `Allow` header then).
    pub allow: Option<&'static str>,
}

impl Reply {
    fn json(status: StatusCode, body: serde_json::Value) -> Self {
        Reply {
            status,
            body: body.to_string(),
            allow: None,
        }
    }

    fn error(status: StatusCode, message: String) -> Self {
        Reply::json(status, json!({ "error": message }))
    }
}

const PATHS: [&str; 2] = ["/health", "/facts"];

pub fn respond(method: &Method, path: &str) -> Reply {
    if !PATHS.contains(&path) {
        return Reply::error(
            StatusCode::NOT_FOUND,
            format!("no such path {path}; this service answers GET /health and GET /facts"),
        );
    }
    if method != Method::GET {
        let mut reply = Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} {path} is not supported; use GET"),
        );
        reply.allow = Some("GET");
        return reply;
    }
    match path {
        "/health" => Reply::json(StatusCode::OK, json!({ "status": "ok" })),
        _ => match facts::gather() {
            Ok(facts) => Reply::json(StatusCode::OK, facts),
            Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(reply: &Reply) -> Value {
        serde_json::from_str(&reply.body).unwrap()
    }

    #[test]
    fn health_is_ok() {
        let reply = respond(&Method::GET, "/health");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(body(&reply), json!({ "status": "ok" }));
    }

    #[test]
    fn facts_are_served() {
        let reply = respond(&Method::GET, "/facts");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(body(&reply)["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn unknown_path_is_404_with_a_json_error() {
        let reply = respond(&Method::GET, "/nope");
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(body(&reply)["error"].as_str().unwrap().contains("/nope"));
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let reply = respond(&Method::POST, "/facts");
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.allow, Some("GET"));
        assert!(body(&reply)["error"].as_str().unwrap().contains("POST"));
    }
}
