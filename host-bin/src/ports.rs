//! `host-bin port-check`: can Docker publish on these TCP ports, as seen from the host?

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use crate::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    pub port: u16,
    /// `Err` carries the OS error text of the failed bind.
    pub outcome: Result<(), String>,
}

impl PortStatus {
    pub fn is_free(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn to_json(&self) -> Json {
        let mut fields = vec![("free", Json::Bool(self.is_free()))];
        fields.push(("port", Json::Num(self.port.into())));
        if let Err(reason) = &self.outcome {
            fields.push(("reason", Json::str(reason.clone())));
        }
        Json::Obj(fields)
    }
}

/// Tries the addresses a published port collides with: 0.0.0.0 (Docker publishes on all
/// interfaces), loopback (on macOS and Windows a listener on 127.0.0.1 does not stop a
/// bind to 0.0.0.0), and their IPv6 twins (a service may listen on IPv6 only). Any bind
/// failure counts as busy, since the UI cannot promise a port this process cannot take;
/// the reason lets the user tell a conflict from, say, a privileged port. For IPv6 only
/// "in use" and "permission denied" count: other errors mean the host has no IPv6.
pub fn check_port(port: u16) -> PortStatus {
    let v4 = [Ipv4Addr::UNSPECIFIED, Ipv4Addr::LOCALHOST].map(|ip| SocketAddr::from((ip, port)));
    let v6 = [Ipv6Addr::UNSPECIFIED, Ipv6Addr::LOCALHOST].map(|ip| SocketAddr::from((ip, port)));
    for addr in v4 {
        if let Err(err) = TcpListener::bind(addr) {
            return PortStatus {
                port,
                outcome: Err(err.to_string()),
            };
        }
    }
    for addr in v6 {
        match TcpListener::bind(addr) {
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::AddrInUse | ErrorKind::PermissionDenied
                ) =>
            {
                return PortStatus {
                    port,
                    outcome: Err(err.to_string()),
                };
            }
            _ => {}
        }
    }
    PortStatus {
        port,
        outcome: Ok(()),
    }
}

pub fn check_ports(ports: &[u16]) -> Vec<PortStatus> {
    ports.iter().copied().map(check_port).collect()
}

pub fn report_json(statuses: &[PortStatus]) -> Json {
    Json::Obj(vec![(
        "ports",
        Json::Arr(statuses.iter().map(PortStatus::to_json).collect()),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen_on_any_port() -> TcpListener {
        // Same address as check_port: on macOS/BSD a listener on 127.0.0.1 would not stop
        // a reuse-address bind to 0.0.0.0, so only this makes the test portable.
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind an ephemeral port")
    }

    #[test]
    fn port_held_by_a_listener_is_busy() {
        let listener = listen_on_any_port();
        let port = listener.local_addr().unwrap().port();

        let status = check_port(port);

        assert_eq!(status.port, port);
        assert!(!status.is_free(), "port {port} is held but reported free");
        let reason = status.outcome.unwrap_err();
        assert!(!reason.is_empty());
        drop(listener);
    }

    #[test]
    fn a_loopback_only_listener_makes_the_port_busy() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind loopback");
        let port = held.local_addr().unwrap().port();
        assert!(
            !check_port(port).is_free(),
            "127.0.0.1:{port} is held but reported free"
        );
    }

    #[test]
    fn an_ipv6_only_listener_makes_the_port_busy() {
        // Skipped where the host has no IPv6 loopback (then no service can listen there).
        let Ok(held) = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) else {
            return;
        };
        let port = held.local_addr().unwrap().port();
        assert!(
            !check_port(port).is_free(),
            "[::1]:{port} is held but reported free"
        );
    }

    #[test]
    fn released_port_is_free() {
        let port = {
            let listener = listen_on_any_port();
            listener.local_addr().unwrap().port()
        };

        let status = check_port(port);

        assert_eq!(
            status,
            PortStatus {
                port,
                outcome: Ok(())
            }
        );
    }

    #[test]
    fn report_keeps_order_and_omits_reason_when_free() {
        let statuses = [
            PortStatus {
                port: 8080,
                outcome: Ok(()),
            },
            PortStatus {
                port: 22,
                outcome: Err("Address already in use (os error 98)".to_string()),
            },
        ];
        let text = report_json(&statuses).to_string();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::json!({ "ports": [
                { "port": 8080, "free": true },
                { "port": 22, "free": false, "reason": "Address already in use (os error 98)" },
            ]})
        );
    }

    #[test]
    fn check_ports_reports_each_port_in_order() {
        let held = listen_on_any_port();
        let busy = held.local_addr().unwrap().port();
        let free = {
            let listener = listen_on_any_port();
            listener.local_addr().unwrap().port()
        };

        let statuses = check_ports(&[free, busy]);

        let summary: Vec<(u16, bool)> = statuses.iter().map(|s| (s.port, s.is_free())).collect();
        assert_eq!(summary, [(free, true), (busy, false)]);
        drop(held);
    }
}
