//! `host-bin port-check`: can Docker publish on these TCP ports, as seen from the host?

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

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

/// Binds 0.0.0.0 because Docker publishes on all interfaces, so a listener on any of them
/// is a conflict. Any bind failure counts as busy, since the UI cannot promise a port this
/// process cannot take; the reason lets the user tell a conflict from, say, a privileged port.
pub fn check_port(port: u16) -> PortStatus {
    let outcome = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .map(drop)
        .map_err(|err| err.to_string());
    PortStatus { port, outcome }
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
