//! `cargo xtask codegen`: files generated from the repository's single sources of truth.

use anyhow::{bail, Context, Result};

use crate::flags::CodegenCmd;
use crate::metadata::Extension;
use crate::{labels, paths, plan, workspace};

/// Where Docker Desktop mounts the directory the VM service's socket goes in.
pub const GUEST_SERVICES: &str = "/run/guest-services";

/// The command the image runs its VM service with: `/<bin> --socket
/// /run/guest-services/<socket>` (the socket name from metadata.json's `vm.exposes`).
pub fn service_command(bin: &str, socket: Option<&str>) -> Vec<String> {
    let mut argv = vec![format!("/{bin}")];
    if let Some(s) = socket {
        argv.extend(["--socket".to_owned(), format!("{GUEST_SERVICES}/{s}")]);
    }
    argv
}

/// The service command of the checkout's own extension, as `dist` would build it.
fn our_service_command() -> Result<Option<Vec<String>>> {
    let ws = workspace::load()?;
    let ext = Extension::load(&paths::metadata_json(), None)?;
    let bin = plan::service_bin(&ext, ws.vm_service.as_deref())?;
    Ok(bin.map(|b| service_command(b, ext.socket())))
}

/// The Dockerfile these labels and the checkout's VM service generate (`release` shows it
/// before labels.json is written).
pub fn generate(labels: &labels::Labels) -> Result<String> {
    Ok(labels::dockerfile(
        labels,
        our_service_command()?.as_deref(),
    ))
}

/// The Dockerfile as labels.json (and the service) say it should be, and whether the one
/// on disk is it.
fn dockerfile(command: Option<&[String]>) -> Result<(String, bool)> {
    let want = labels::dockerfile(&labels::load(&paths::labels_json())?, command);
    let have = std::fs::read_to_string(paths::dockerfile()).unwrap_or_default();
    let fresh = have == want;
    Ok((want, fresh))
}

/// Fails when extension/Dockerfile is not what labels.json and `command` (the VM
/// service's, `dist` knows it from its plan) generate; `codegen --check` is the same
/// check on its own.
pub fn check_fresh(command: Option<&[String]>) -> Result<()> {
    if !dockerfile(command)?.1 {
        bail!(
            "{} is stale: it is generated from extension/labels.json, metadata.json's `vm` and Cargo.toml's vm-service; run `cargo xtask codegen`",
            paths::dockerfile()
        );
    }
    Ok(())
}

impl CodegenCmd {
    pub fn run(self) -> Result<()> {
        let path = paths::dockerfile();
        let command = our_service_command()?;
        if self.check {
            return check_fresh(command.as_deref());
        }
        let (want, fresh) = dockerfile(command.as_deref())?;
        if fresh {
            eprintln!("{path} is up to date");
            return Ok(());
        }
        std::fs::write(&path, want).with_context(|| format!("cannot write {path}"))?;
        eprintln!("wrote {path}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed Dockerfile is generated; stale means someone edited one file only.
    #[test]
    fn dockerfile_is_fresh() {
        let command = our_service_command().unwrap();
        assert!(
            dockerfile(command.as_deref()).unwrap().1,
            "extension/Dockerfile is stale: run `cargo xtask codegen`"
        );
    }

    #[test]
    fn service_command_is_exec_form_with_the_socket() {
        assert_eq!(
            service_command("vm-service", Some("host-facts.sock")),
            [
                "/vm-service",
                "--socket",
                "/run/guest-services/host-facts.sock"
            ]
        );
        assert_eq!(service_command("svc", None), ["/svc"]);
    }
}
