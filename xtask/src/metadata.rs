//! `extension/metadata.json` is the source of truth for which host binaries go where.
//! Parsed into typed structs, then checked against what the workspace can build; every
//! problem names the file and the JSON location.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::compose::{self, Compose};
use crate::json;
use crate::target::Os;

/// Docker's extension metadata. Unknown keys are errors, as in Docker's own validator
/// (its schema rejects additional properties): a `"hosts"` for `"host"` would otherwise
/// install an extension with no host binaries at all.
#[derive(Debug)]
pub struct Metadata {
    pub icon: String,
    pub ui: BTreeMap<String, UiEntry>,
    pub vm: Option<Vm>,
    pub host: Option<Host>,
}

/// The service Docker Desktop runs in its VM (Docker calls it the backend): an image or a
/// compose file.
#[derive(Debug)]
pub struct Vm {
    pub image: Option<String>,
    pub composefile: Option<String>,
    pub exposes: Option<Exposes>,
}

#[derive(Debug)]
pub struct Exposes {
    pub socket: String,
}

/// What `vm.image` names when the backend is the extension's own image.
pub const OWN_IMAGE: &str = "${DESKTOP_PLUGIN_IMAGE}";

#[derive(Debug)]
pub struct UiEntry {
    pub title: String,
    pub root: String,
    pub src: String,
    /// `backend.socket`: the VM service socket this UI talks to (Docker's samples write it).
    pub backend: Option<Exposes>,
}

#[derive(Debug)]
pub struct Host {
    /// Each element maps OS keys to path lists; the keys are checked by hand so an
    /// unknown one can be reported with its location.
    pub binaries: Vec<BTreeMap<String, Vec<BinaryPath>>>,
}

#[derive(Debug)]
pub struct BinaryPath {
    pub path: String,
}

/// Each struct read from its JSON object; an unknown key is an error naming it.
impl Metadata {
    fn from_json(v: &Value) -> Result<Metadata> {
        json::deny_unknown(v, "", &["icon", "ui", "vm", "host"])?;
        let opt = |key| json::optional(v, "", key);
        Ok(Metadata {
            icon: json::required_string(v, "", "icon")?,
            ui: match opt("ui")? {
                Some(ui) => json::entries(ui, "ui", UiEntry::from_json)?
                    .into_iter()
                    .collect(),
                None => BTreeMap::new(),
            },
            vm: opt("vm")?.map(Vm::from_json).transpose()?,
            host: opt("host")?.map(Host::from_json).transpose()?,
        })
    }
}

impl Vm {
    fn from_json(v: &Value) -> Result<Vm> {
        json::deny_unknown(v, "vm", &["image", "composefile", "exposes"])?;
        Ok(Vm {
            image: json::optional_string(v, "vm", "image")?,
            composefile: json::optional_string(v, "vm", "composefile")?,
            exposes: json::optional(v, "vm", "exposes")?
                .map(|e| Exposes::from_json(e, "vm.exposes"))
                .transpose()?,
        })
    }
}

impl Exposes {
    fn from_json(v: &Value, at: &str) -> Result<Exposes> {
        json::deny_unknown(v, at, &["socket"])?;
        let socket = json::required_string(v, at, "socket")?;
        Ok(Exposes { socket })
    }
}

impl UiEntry {
    fn from_json(v: &Value, at: &str) -> Result<UiEntry> {
        json::deny_unknown(v, at, &["title", "root", "src", "backend"])?;
        let backend_at = json::at(at, "backend");
        Ok(UiEntry {
            title: json::required_string(v, at, "title")?,
            root: json::required_string(v, at, "root")?,
            src: json::required_string(v, at, "src")?,
            backend: json::optional(v, at, "backend")?
                .map(|b| Exposes::from_json(b, &backend_at))
                .transpose()?,
        })
    }
}

impl Host {
    fn from_json(v: &Value) -> Result<Host> {
        json::deny_unknown(v, "host", &["binaries"])?;
        let paths = |v: &Value, at: &str| {
            json::elements(v, at, |v, at| {
                json::deny_unknown(v, at, &["path"])?;
                let path = json::required_string(v, at, "path")?;
                Ok(BinaryPath { path })
            })
        };
        let set = |v: &Value, at: &str| Ok(json::entries(v, at, paths)?.into_iter().collect());
        let binaries = json::required(v, "host", "binaries")?;
        Ok(Host {
            binaries: json::elements(binaries, "host.binaries", set)?,
        })
    }
}

/// One host binary the image must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBinary {
    pub os: Os,
    /// Path inside the image, relative (`darwin/host-bin`).
    pub path: String,
    /// The cargo binary target that produces it, or the `vendor.toml` table it comes from.
    pub bin: String,
    /// A third-party binary from `vendor.toml`, not built by the workspace.
    pub vendored: bool,
}

/// The binary names an extension may ship: those the workspace builds and those
/// `vendor.toml` pins.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub workspace: BTreeSet<String>,
    pub vendored: BTreeSet<String>,
}

/// `metadata.json`, parsed and checked.
#[derive(Debug)]
pub struct Extension {
    pub file: Utf8PathBuf,
    /// The directory metadata.json is in; the icon is read from it.
    pub dir: Utf8PathBuf,
    pub metadata: Metadata,
    pub binaries: Vec<HostBinary>,
    /// Where the UI is staged, relative to the image root (`ui`), if there is a UI.
    pub ui_root: Option<String>,
    /// Problems that do not stop a build (a built binary no one ships).
    pub warnings: Vec<String>,
    /// `vm.composefile`, read (by `load`, which reads files; `parse` leaves it `None`).
    pub compose: Option<Compose>,
}

impl Extension {
    /// Reads and checks `file` against the binaries the workspace builds or vendors.
    /// `known` is `None` when checking someone else's extension (`verify`): then any
    /// binary name is accepted.
    pub fn load(file: &Utf8Path, known: Option<&Known>) -> Result<Extension> {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
        let mut ext = Extension::parse(file, &text, known)?;
        let icon = ext.dir.join(&ext.metadata.icon);
        if !icon.is_file() {
            bail!("{file}: `icon` names {icon}, which does not exist");
        }
        ext.load_compose()?;
        Ok(ext)
    }

    /// Reads `vm.composefile` (beside metadata.json, as it is in the image) and notes the
    /// services that run another image than the extension's own.
    fn load_compose(&mut self) -> Result<()> {
        let Some(rel) = self.vm_files().into_iter().next() else {
            return Ok(());
        };
        let path = self.dir.join(&rel);
        if !path.is_file() {
            bail!(
                "{}: `vm.composefile` names {path}, which does not exist",
                self.file
            );
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let compose = compose::parse(&path, &text)
            .with_context(|| format!("{}: `vm.composefile`", self.file))?;
        for s in &compose.services {
            match s.image.as_deref() {
                Some(OWN_IMAGE) => {}
                Some(image) => self.warnings.push(format!(
                    "{path}: service `{}` runs `{image}`, another image than this extension's own \
                     ({OWN_IMAGE}): Docker Desktop pulls it at install time, and nothing here verifies it",
                    s.name
                )),
                None => self.warnings.push(format!(
                    "{path}: service `{}` names no `image` (a build is not possible in Docker Desktop's VM)",
                    s.name
                )),
            }
        }
        self.compose = Some(compose);
        Ok(())
    }

    /// Whether Docker Desktop runs this extension's own image as its VM service: `vm.image`
    /// is `${DESKTOP_PLUGIN_IMAGE}`, or a service of the compose file runs it.
    pub fn runs_own_image(&self) -> bool {
        let Some(vm) = &self.metadata.vm else {
            return false;
        };
        vm.image.as_deref() == Some(OWN_IMAGE)
            || self
                .compose
                .iter()
                .flat_map(|c| &c.services)
                .any(|s| s.image.as_deref() == Some(OWN_IMAGE))
    }

    /// `vm.exposes.socket`, the file the service listens on in `/run/guest-services`.
    pub fn socket(&self) -> Option<&str> {
        let vm = self.metadata.vm.as_ref()?;
        vm.exposes.as_ref().map(|e| e.socket.as_str())
    }

    pub fn parse(file: &Utf8Path, text: &str, known: Option<&Known>) -> Result<Extension> {
        // serde_json's message ends with "at line L column C".
        let metadata = serde_json::from_str(text)
            .map_err(anyhow::Error::from)
            .and_then(|v| Metadata::from_json(&v))
            .with_context(|| format!("{file}: not a valid extension metadata file"))?;
        let mut errors = Vec::new();
        let binaries = host_binaries(&metadata, known, &mut errors);
        let ui_root = ui_root(&metadata, &mut errors);
        let mut notes = Vec::new();
        if let Some(vm) = &metadata.vm {
            check_vm(vm, &mut errors, &mut notes);
        }
        for (name, entry) in &metadata.ui {
            if let Some(b) = &entry.backend {
                check_socket(&format!("ui.{name}.backend.socket"), &b.socket, &mut errors);
            }
        }
        let dir = file.parent().map_or_else(|| ".".into(), Utf8Path::to_owned);
        if !is_plain_relative(&metadata.icon) {
            errors.push(format!(
                "`icon`: expected a file name inside {dir}, found `{}`",
                metadata.icon
            ));
        }
        if !errors.is_empty() {
            bail!(
                "{file}: {} problem(s):\n  {}",
                errors.len(),
                errors.join("\n  ")
            );
        }
        let named: BTreeSet<&str> = binaries.iter().map(|b| b.bin.as_str()).collect();
        let mut warnings: Vec<String> = known
            .into_iter()
            .flat_map(|k| &k.workspace)
            .filter(|b| !named.contains(b.as_str()))
            .map(|b| format!("{file}: the workspace builds binary `{b}` but `host.binaries` never names it; it is not shipped"))
            .collect();
        warnings.extend(notes.into_iter().map(|n| format!("{file}: {n}")));
        Ok(Extension {
            file: file.to_owned(),
            dir,
            metadata,
            binaries,
            ui_root,
            warnings,
            compose: None,
        })
    }

    /// The files inside the image that `vm` names (its compose file), relative.
    pub fn vm_files(&self) -> Vec<String> {
        let compose = self
            .metadata
            .vm
            .as_ref()
            .and_then(|v| v.composefile.as_deref());
        compose
            .map(|c| c.trim_start_matches('/').to_owned())
            .into_iter()
            .collect()
    }

    /// The OSes that have at least one binary the workspace builds: only their triples
    /// need building.
    pub fn oses(&self) -> BTreeSet<Os> {
        self.built().map(|b| b.os).collect()
    }

    /// The cargo binary targets to build (the union over all OSes).
    pub fn bins(&self) -> BTreeSet<&str> {
        self.built().map(|b| b.bin.as_str()).collect()
    }

    /// The binaries the workspace builds.
    pub fn built(&self) -> impl Iterator<Item = &HostBinary> {
        self.binaries.iter().filter(|b| !b.vendored)
    }

    /// The third-party binaries, from `vendor.toml`.
    pub fn vendored(&self) -> impl Iterator<Item = &HostBinary> {
        self.binaries.iter().filter(|b| b.vendored)
    }
}

fn host_binaries(
    meta: &Metadata,
    known: Option<&Known>,
    errors: &mut Vec<String>,
) -> Vec<HostBinary> {
    let mut out: Vec<HostBinary> = Vec::new();
    let Some(host) = &meta.host else { return out };
    for (i, set) in host.binaries.iter().enumerate() {
        for (key, paths) in set {
            let at = format!("host.binaries[{i}].{key}");
            let Some(os) = Os::from_dir(key) else {
                errors.push(format!(
                    "`{at}`: unknown OS `{key}`: expected darwin, windows or linux"
                ));
                continue;
            };
            for (j, BinaryPath { path }) in paths.iter().enumerate() {
                let at = format!("{at}[{j}].path");
                match check_path(os, path, known) {
                    Err(e) => errors.push(format!("`{at}`: {e}")),
                    Ok(_) if out.iter().any(|b| b.path == path[1..]) => {
                        errors.push(format!("`{at}`: `{path}` is named twice"))
                    }
                    Ok((bin, vendored)) => out.push(HostBinary {
                        os,
                        path: path[1..].to_owned(),
                        bin,
                        vendored,
                    }),
                }
            }
        }
    }
    out
}

/// Checks one `host.binaries` path; returns the binary's name and whether it is vendored.
fn check_path(os: Os, path: &str, known: Option<&Known>) -> Result<(String, bool), String> {
    let dir = os.dir();
    let rel = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(dir))
        .and_then(|p| p.strip_prefix('/'))
        .filter(|rest| is_plain_relative(rest))
        .ok_or_else(|| {
            format!("`{path}` is outside the {dir} directory: expected `/{dir}/<name>`")
        })?;
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let bin = match os {
        Os::Windows => file
            .strip_suffix(".exe")
            .ok_or_else(|| format!("`{path}`: a Windows binary must end in `.exe`"))?,
        Os::Darwin | Os::Linux => file,
    };
    let Some(known) = known else {
        return Ok((bin.to_owned(), false));
    };
    if known.workspace.contains(bin) {
        return Ok((bin.to_owned(), false));
    }
    if known.vendored.contains(bin) {
        return Ok((bin.to_owned(), true));
    }
    let list = |names: &BTreeSet<String>| match names.is_empty() {
        true => "none".to_owned(),
        false => names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    };
    Err(format!(
        "`{path}`: no workspace package builds a binary named `{bin}` and vendor.toml has no [{bin}] table (binaries: {}; vendored: {})",
        list(&known.workspace),
        list(&known.vendored)
    ))
}

/// `vm`: an image or a compose file (Docker's rule), the compose file inside the image.
/// An image other than the extension's own is legal, but nothing here can check it.
fn check_vm(vm: &Vm, errors: &mut Vec<String>, notes: &mut Vec<String>) {
    match (&vm.image, &vm.composefile) {
        (None, None) => errors.push(
            "`vm`: expected `image` or `composefile` (the backend to run), found neither"
                .to_owned(),
        ),
        (Some(_), Some(_)) => {
            errors.push("`vm`: expected `image` or `composefile`, found both".to_owned())
        }
        (Some(image), None) if image != OWN_IMAGE => notes.push(format!(
            "`vm.image` is `{image}`, another image than this extension's own ({OWN_IMAGE}): \
             Docker Desktop pulls it at install time, and nothing here verifies it"
        )),
        _ => {}
    }
    if let Some(c) = &vm.composefile {
        if !is_plain_relative(c.trim_start_matches('/')) {
            errors.push(format!(
                "`vm.composefile`: expected a file inside the image like `docker-compose.yaml`, found `{c}`"
            ));
        }
    }
    if let Some(e) = &vm.exposes {
        check_socket("vm.exposes.socket", &e.socket, errors);
    }
}

/// Docker Desktop creates the socket in `/run/guest-services` (in the VM) and connects
/// the UI to it there: a name, never a path.
fn check_socket(at: &str, socket: &str, errors: &mut Vec<String>) {
    let plain = is_plain_relative(socket) && !socket.contains('/') && !socket.contains('\0');
    if !plain {
        errors.push(format!(
            "`{at}`: expected a socket file name like `service.sock` (created in /run/guest-services), found `{socket}`"
        ));
    }
}

fn ui_root(meta: &Metadata, errors: &mut Vec<String>) -> Option<String> {
    let mut root: Option<&str> = None;
    for (name, entry) in &meta.ui {
        let at = format!("ui.{name}");
        // Docker's own samples write both `/ui` and `ui` (its Kubernetes sample).
        let dir = entry.root.strip_prefix('/').unwrap_or(&entry.root);
        if !is_plain_relative(dir) {
            errors.push(format!(
                "`{at}.root`: expected a directory inside the image like `/ui`, found `{}`",
                entry.root
            ));
            continue;
        }
        if !is_plain_relative(&entry.src) {
            errors.push(format!(
                "`{at}.src`: expected a file inside `{}`, found `{}`",
                entry.root, entry.src
            ));
        }
        match root {
            Some(r) if r != dir => errors.push(format!(
                "`{at}.root`: `{}` differs from `/{r}`: the UI is built once and staged in one place",
                entry.root
            )),
            _ => root = Some(dir),
        }
    }
    root.map(str::to_owned)
}

/// A relative path with no `.`/`..`/empty segments and no backslashes.
fn is_plain_relative(p: &str) -> bool {
    !p.is_empty() && !p.contains('\\') && p.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins() -> BTreeSet<String> {
        ["host-bin".to_owned(), "helper".to_owned()].into()
    }

    fn parse(text: &str) -> Result<Extension> {
        Extension::parse(
            Utf8Path::new("extension/metadata.json"),
            text,
            Some(&Known {
                workspace: bins(),
                vendored: ["kubectl".to_owned()].into(),
            }),
        )
    }

    fn with_binaries(binaries: &str) -> String {
        format!(
            r#"{{"icon": "icon.svg",
                "ui": {{"dashboard-tab": {{"title": "T", "root": "/ui", "src": "index.html"}}}},
                "host": {{"binaries": [{binaries}]}}}}"#
        )
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn vendored_binaries_are_shipped_but_not_built() {
        let ext = parse(&with_binaries(
            r#"{"linux": [{"path": "/linux/host-bin"}, {"path": "/linux/kubectl"}], "windows": [{"path": "/windows/kubectl.exe"}]}"#,
        ))
        .unwrap();
        let vendored: Vec<&str> = ext.vendored().map(|b| b.path.as_str()).collect();
        assert_eq!(vendored, ["linux/kubectl", "windows/kubectl.exe"]);
        assert_eq!(
            ext.oses(),
            [Os::Linux].into(),
            "only the workspace's binaries are built"
        );
        assert_eq!(ext.bins(), ["host-bin"].into());
        let e = err(&with_binaries(r#"{"linux": [{"path": "/linux/helm"}]}"#));
        assert!(
            e.contains("no workspace package builds a binary named `helm` and vendor.toml has no [helm] table (binaries: helper, host-bin; vendored: kubectl)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_errors_as_in_dockers_validator() {
        let text = r#"{"icon": "icon.svg", "hosts": {"binaries": []}}"#;
        let e = err(text);
        assert!(
            e.contains("unknown field `hosts`") && e.contains("`host`"),
            "{e}"
        );
        let text = r#"{"icon": "icon.svg", "vm": {"image": "x", "expose": {}}}"#;
        assert!(err(text).contains("unknown field `expose`"));
    }

    #[test]
    fn vm_needs_an_image_or_a_compose_file_and_notes_a_foreign_image() {
        assert!(err(r#"{"icon": "icon.svg", "vm": {}}"#).contains("found neither"));
        let ext =
            parse(r#"{"icon": "icon.svg", "vm": {"composefile": "docker-compose.yaml"}}"#).unwrap();
        assert_eq!(ext.vm_files(), ["docker-compose.yaml"]);
        let ext = parse(r#"{"icon": "icon.svg", "vm": {"image": "nginx:1"}}"#).unwrap();
        assert!(
            ext.warnings
                .iter()
                .any(|w| w.contains("`vm.image` is `nginx:1`")),
            "{:?}",
            ext.warnings
        );
        let own = format!(r#"{{"icon": "icon.svg", "vm": {{"image": "{OWN_IMAGE}"}}}}"#);
        assert!(parse(&own)
            .unwrap()
            .warnings
            .iter()
            .all(|w| !w.contains("vm.image")));
    }

    #[test]
    fn parses_the_shipped_metadata() {
        let text = std::fs::read_to_string(crate::paths::metadata_json()).unwrap();
        let ext = parse(&text).unwrap();
        assert_eq!(ext.oses(), Os::ALL.into());
        assert_eq!(ext.ui_root.as_deref(), Some("ui"));
        assert!(ext
            .binaries
            .iter()
            .any(|b| b.path == "windows/host-bin.exe" && b.bin == "host-bin"));
    }

    #[test]
    fn valid_and_warns_about_unshipped_bins() {
        let ext = parse(&with_binaries(
            r#"{"darwin": [{"path": "/darwin/host-bin"}], "windows": [{"path": "/windows/host-bin.exe"}]}"#,
        ))
        .unwrap();
        assert_eq!(
            ext.binaries[1],
            HostBinary {
                os: Os::Windows,
                path: "windows/host-bin.exe".into(),
                bin: "host-bin".into(),
                vendored: false,
            }
        );
        assert_eq!(ext.oses(), [Os::Darwin, Os::Windows].into());
        assert_eq!(ext.warnings.len(), 1);
        assert!(ext.warnings[0].contains("`helper`"), "{:?}", ext.warnings);
    }

    #[test]
    fn invalid_json_names_file_line_and_column() {
        let e = err("{\n  \"icon\": \"x.svg\",\n  oops\n}");
        assert!(
            e.contains("extension/metadata.json") && e.contains("line 3 column 3"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_missing_fields_are_located() {
        let e = err(r#"{"icon": 3}"#);
        assert!(
            e.contains("`icon`: invalid type: expected a string, found 3"),
            "{e}"
        );
        let e = err(r#"{"icon": "i.svg", "ui": {"t": {"title": "T", "root": "/ui"}}}"#);
        assert!(e.contains("`ui.t`: missing field `src`"), "{e}");
        let e = err(&with_binaries(
            r#"{"linux": [{"path": "/linux/host-bin", "mode": 1}]}"#,
        ));
        assert!(
            e.contains("`host.binaries[0].linux[0]`: unknown field `mode`, expected one of `path`"),
            "{e}"
        );
        let e = err(r#"{"ui": {}}"#);
        assert!(e.contains("missing field `icon`"), "{e}");
    }

    #[test]
    fn unknown_os_key() {
        let e = err(&with_binaries(
            r#"{"macos": [{"path": "/darwin/host-bin"}]}"#,
        ));
        assert!(
            e.contains("`host.binaries[0].macos`: unknown OS `macos`"),
            "{e}"
        );
    }

    #[test]
    fn path_outside_os_dir() {
        for bad in [
            "/linux/host-bin",
            "darwin/host-bin",
            "/darwin/../host-bin",
            "/darwin/",
            "/darwinx/host-bin",
        ] {
            let e = err(&with_binaries(&format!(
                r#"{{"darwin": [{{"path": "{bad}"}}]}}"#
            )));
            assert!(
                e.contains("`host.binaries[0].darwin[0].path`")
                    && e.contains("outside the darwin directory"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn windows_needs_exe() {
        let e = err(&with_binaries(
            r#"{"windows": [{"path": "/windows/host-bin"}]}"#,
        ));
        assert!(
            e.contains("`host.binaries[0].windows[0].path`") && e.contains("must end in `.exe`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_binary_name() {
        let e = err(&with_binaries(r#"{"linux": [{"path": "/linux/nope"}]}"#));
        assert!(
            e.contains("no workspace package builds a binary named `nope`")
                && e.contains("helper, host-bin"),
            "{e}"
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let e = err(&with_binaries(
            r#"{"linux": [{"path": "/linux/nope"}, {"path": "/linux/host-bin"}, {"path": "/linux/host-bin"}]},
               {"bsd": []}"#,
        ));
        assert!(
            e.contains("3 problem(s)")
                && e.contains("named twice")
                && e.contains("`host.binaries[1].bsd`"),
            "{e}"
        );
    }

    #[test]
    fn ui_roots_must_agree() {
        let e = err(
            r#"{"icon": "i.svg", "ui": {"a": {"title": "a", "root": "/ui", "src": "index.html"},
                         "b": {"title": "b", "root": "/other", "src": "index.html"}}}"#,
        );
        assert!(e.contains("`ui.b.root`"), "{e}");
        let e = err(
            r#"{"icon": "../i.svg", "ui": {"a": {"title": "a", "root": "../ui", "src": "index.html"}}}"#,
        );
        assert!(e.contains("`ui.a.root`") && e.contains("`icon`"), "{e}");
    }

    #[test]
    fn socket_is_a_plain_file_name() {
        for bad in ["run/x.sock", "/run/guest-services/x.sock", "..", ""] {
            let text = format!(
                r#"{{"icon": "i.svg", "vm": {{"image": "{OWN_IMAGE}", "exposes": {{"socket": "{bad}"}}}}}}"#
            );
            let e = err(&text);
            assert!(
                e.contains("extension/metadata.json")
                    && e.contains("`vm.exposes.socket`: expected a socket file name"),
                "{bad}: {e}"
            );
        }
        let e = err(
            r#"{"icon": "i.svg", "ui": {"t": {"title": "T", "root": "/ui", "src": "index.html", "backend": {"socket": "a/b.sock"}}}}"#,
        );
        assert!(e.contains("`ui.t.backend.socket`"), "{e}");
    }

    /// Docker's extensions-sdk samples, as they are written there: the vm-service sample's
    /// `ui.dashboard-tab.backend.socket`, the Kubernetes sample's `"root": "ui"`.
    #[test]
    fn dockers_samples_stay_valid() {
        let vm_service = r#"{
          "icon": "docker.svg",
          "vm": {"composefile": "docker-compose.yaml", "exposes": {"socket": "extension-volumes.sock"}},
          "ui": {"dashboard-tab": {"title": "Volumes", "root": "/ui", "src": "index.html",
                                   "backend": {"socket": "extension-volumes.sock"}}}}"#;
        let ext = Extension::parse(Utf8Path::new("m.json"), vm_service, None).unwrap();
        assert_eq!(ext.socket(), Some("extension-volumes.sock"));
        let kubernetes = r#"{
          "icon": "docker.svg",
          "ui": {"dashboard-tab": {"title": "Kubernetes Sample", "src": "index.html", "root": "ui"}},
          "host": {"binaries": [{"darwin": [{"path": "/darwin/kubectl"}],
                                 "windows": [{"path": "/windows/kubectl.exe"}],
                                 "linux": [{"path": "/linux/kubectl"}]}]}}"#;
        let ext = Extension::parse(Utf8Path::new("m.json"), kubernetes, None).unwrap();
        assert_eq!(ext.ui_root.as_deref(), Some("ui"));
    }

    /// `load` reads the compose file beside metadata.json: missing, not YAML or without
    /// services is an error naming the file and field; another image's service is noted.
    #[test]
    fn compose_file_is_read_and_checked() {
        let dir = crate::paths::target_dir().join("xtask-unit/compose");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("i.svg"), "<svg/>").unwrap();
        let meta = dir.join("metadata.json");
        std::fs::write(
            &meta,
            r#"{"icon": "i.svg", "vm": {"composefile": "docker-compose.yaml", "exposes": {"socket": "s.sock"}}}"#,
        )
        .unwrap();
        let load = || Extension::load(&meta, None);
        let e = format!("{:#}", load().unwrap_err());
        assert!(
            e.contains("`vm.composefile` names") && e.contains("does not exist"),
            "{e}"
        );
        let compose = dir.join("docker-compose.yaml");
        for (text, want) in [
            ("services: [a\n", "not valid YAML"),
            (
                "version: '3.8'\n",
                "`services`: expected at least one service",
            ),
        ] {
            std::fs::write(&compose, text).unwrap();
            let e = format!("{:#}", load().unwrap_err());
            assert!(
                e.contains(meta.as_str()) && e.contains(compose.as_str()) && e.contains(want),
                "{e}"
            );
        }
        std::fs::write(
            &compose,
            format!("services:\n  svc:\n    image: {OWN_IMAGE}\n  db:\n    image: postgres:16\n"),
        )
        .unwrap();
        let ext = load().unwrap();
        assert!(ext.runs_own_image());
        assert!(
            ext.warnings
                .iter()
                .any(|w| w.contains("service `db` runs `postgres:16`")),
            "{:?}",
            ext.warnings
        );
        std::fs::write(&compose, "services:\n  db:\n    image: postgres:16\n").unwrap();
        assert!(!load().unwrap().runs_own_image());
    }
}
