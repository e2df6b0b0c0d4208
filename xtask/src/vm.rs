//! Would the VM service start in its own image? `verify`'s rules for an image whose
//! metadata.json has a `vm` section: the variant's config (or the compose service) names a
//! command; its executable is in the image, for the variant's CPU; a dynamic one finds its
//! loader and libraries there; a shell-form command finds `/bin/sh`. Docker's own
//! vm-service sample is `FROM alpine` with a shell-form `CMD`: valid. `FROM scratch` with a
//! shell-form command: not. Each problem names the path, the rule, expected and found.

use std::collections::{BTreeSet, VecDeque};

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::metadata::{Extension, OWN_IMAGE};
use crate::target::{Arch, ImagePlatform};

mod elf;
pub use elf::{machine, read_elf, Elf};

/// Every problem of the VM service in one variant (the caller prefixes the variant).
pub fn check(
    platform: ImagePlatform,
    config: &Value,
    fs: &Utf8Path,
    ext: &Extension,
) -> Vec<String> {
    let Some(vm) = &ext.metadata.vm else {
        return Vec::new();
    };
    let config = if config["config"].is_object() {
        &config["config"]
    } else {
        &config["Config"]
    };
    let strings = |key: &str| -> Option<Vec<String>> {
        let items = config[key].as_array()?;
        Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    };
    let (image_ep, image_cmd) = (strings("Entrypoint"), strings("Cmd"));
    // (where the command comes from, the argv Docker runs)
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    if vm.image.as_deref() == Some(OWN_IMAGE) {
        let argv = [image_ep.clone(), image_cmd.clone()]
            .into_iter()
            .flatten()
            .flatten();
        runs.push(("the image config".to_owned(), argv.collect()));
    }
    for s in ext.compose.iter().flat_map(|c| &c.services) {
        if s.image.as_deref() != Some(OWN_IMAGE) {
            continue;
        }
        // As `docker run --entrypoint`: a new entrypoint drops the image's command.
        let ep = s.entrypoint.clone().or(image_ep.clone());
        let cmd = match (&s.command, &s.entrypoint) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(_)) => None,
            (None, None) => image_cmd.clone(),
        };
        let argv = ep.into_iter().flatten().chain(cmd.into_iter().flatten());
        runs.push((format!("compose service `{}`", s.name), argv.collect()));
    }
    let env_path = strings("Env")
        .unwrap_or_default()
        .into_iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_owned))
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let workdir = config["WorkingDir"]
        .as_str()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    let mut out = Vec::new();
    for (from, argv) in runs {
        let image = Image {
            fs,
            arch: platform.0,
            path: &env_path,
            workdir,
        };
        image.command(&from, &argv, &mut out);
    }
    out
}

/// The exported file system of one variant, and what resolving a command needs.
struct Image<'a> {
    fs: &'a Utf8Path,
    arch: Arch,
    /// `PATH` from the config's `Env`.
    path: &'a str,
    workdir: &'a str,
}

fn problem(at: &str, rule: &str, expected: &str, found: &str) -> String {
    format!("{at}: {rule}: expected {expected}, found {found}")
}

impl Image<'_> {
    fn command(&self, from: &str, argv: &[String], out: &mut Vec<String>) {
        let Some(program) = argv.first() else {
            out.push(problem(
                "config",
                "service command",
                &format!("an Entrypoint or Cmd that starts the VM service (from {from})"),
                "none",
            ));
            return;
        };
        // Docker's shell form (`CMD /service -socket ...`) is `/bin/sh -c "..."`: the shell
        // must be in the image, and so must the program its script starts.
        if argv.len() >= 3 && (program == "/bin/sh" || program == "sh") && argv[1] == "-c" {
            if self.locate("/bin/sh").is_none() {
                out.push(problem(
                    "/bin/sh",
                    "service shell",
                    &format!("a shell in the image: {from} has a shell-form command `{}`", argv[2]),
                    "no /bin/sh (a FROM scratch image has none: use the exec form, [\"/path\", \"arg\"])",
                ));
                return;
            }
            self.executable("/bin/sh", from, out);
            if let Some(first) = argv[2]
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with('/'))
            {
                self.executable(first, from, out);
            }
            return;
        }
        let path = if program.contains('/') {
            match program.starts_with('/') {
                true => program.clone(),
                false => format!("{}/{program}", self.workdir.trim_end_matches('/')),
            }
        } else {
            let found = self
                .path
                .split(':')
                .map(|d| format!("{d}/{program}"))
                .find(|p| self.locate(p).is_some());
            match found {
                Some(p) => p,
                None => {
                    out.push(problem(
                        program,
                        "service executable",
                        &format!(
                            "`{program}` (from {from}) in the image's PATH {}",
                            self.path
                        ),
                        "nothing",
                    ));
                    return;
                }
            }
        };
        self.executable(&path, from, out);
    }

    /// `path` (absolute, in the image) is a file the kernel can start there: an ELF for
    /// the variant's CPU with its loader and libraries, or a `#!` script whose
    /// interpreter is.
    fn executable(&self, path: &str, from: &str, out: &mut Vec<String>) {
        self.executable_at(path, from, 0, out);
    }

    fn executable_at(&self, path: &str, from: &str, depth: usize, out: &mut Vec<String>) {
        let Some(real) = self.locate(path) else {
            out.push(problem(
                path,
                "service executable",
                &format!("the program {from} runs, in the image"),
                "nothing",
            ));
            return;
        };
        if crate::digest::mode(&real).is_some_and(|m| m & 0o111 == 0) {
            out.push(problem(
                path,
                "service executable",
                "an executable file",
                "no execute permission",
            ));
        }
        let Ok(bytes) = std::fs::read(&real) else {
            out.push(problem(
                path,
                "service executable",
                "a readable file",
                "a directory or unreadable file",
            ));
            return;
        };
        if let Some(line) = bytes.strip_prefix(b"#!") {
            let line =
                String::from_utf8_lossy(line.split(|&b| b == b'\n').next().unwrap_or_default())
                    .into_owned();
            match line.split_whitespace().next() {
                Some(interp) if depth < 4 => {
                    self.executable_at(interp, &format!("the `#!` line of {path}"), depth + 1, out)
                }
                _ => out.push(problem(
                    path,
                    "service executable",
                    "an interpreter on the `#!` line",
                    &format!("`#!{line}`"),
                )),
            }
            return;
        }
        match read_elf(&bytes) {
            Err(found) => out.push(problem(
                path,
                "service executable",
                "an ELF executable or a `#!` script",
                &found,
            )),
            Ok(e) => self.loadable(path, &e, out),
        }
    }

    /// The CPU, the loader (`PT_INTERP`) and every library (`DT_NEEDED`, transitively).
    fn loadable(&self, path: &str, exe: &Elf, out: &mut Vec<String>) {
        let want = self.arch.cpu();
        if exe.machine != Some(want) {
            out.push(problem(
                path,
                "service cpu",
                &format!("ELF {want} (the variant's CPU)"),
                &exe.cpu_name(),
            ));
            return;
        }
        let Some(interp) = &exe.interpreter else {
            return; // static: nothing else to load
        };
        if self.locate(interp).is_none() {
            out.push(problem(
                path,
                "service loader",
                &format!("its loader {interp} (PT_INTERP) in the image"),
                "nothing",
            ));
        }
        let dirs = self.library_dirs(interp, exe);
        let mut queue: VecDeque<(String, String)> = exe
            .needed
            .iter()
            .map(|n| (n.clone(), path.to_owned()))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some((lib, by)) = queue.pop_front() {
            if !seen.insert(lib.clone()) {
                continue;
            }
            let found = dirs
                .iter()
                .map(|d| format!("{d}/{lib}"))
                .find_map(|p| Some((self.locate(&p)?, p)));
            let Some((real, at)) = found else {
                out.push(problem(
                    path,
                    "service library",
                    &format!("{lib} (needed by {by}) in {}", dirs.join(", ")),
                    "nothing",
                ));
                continue;
            };
            match std::fs::read(&real)
                .map_err(|e| e.to_string())
                .and_then(|b| read_elf(&b))
            {
                Ok(l) if l.machine == Some(want) => {
                    queue.extend(l.needed.into_iter().map(|n| (n, at.clone())))
                }
                Ok(l) => out.push(problem(
                    &at,
                    "service library",
                    &format!("ELF {want}"),
                    &l.cpu_name(),
                )),
                Err(e) => out.push(problem(&at, "service library", "an ELF shared library", &e)),
            }
        }
    }

    /// Where the loader looks: musl's default path (and `/etc/ld-musl-ARCH.path`), or
    /// glibc's trusted directories with Debian's multiarch ones; `DT_RUNPATH`/`DT_RPATH`
    /// first.
    fn library_dirs(&self, interp: &str, exe: &Elf) -> Vec<String> {
        let mut dirs: Vec<String> = exe
            .runpath
            .iter()
            .filter(|d| !d.contains('$'))
            .cloned()
            .collect();
        let cpu = machine(self.arch);
        if interp.contains("ld-musl") {
            let conf = self
                .locate(&format!("/etc/ld-musl-{cpu}.path"))
                .and_then(|p| std::fs::read_to_string(p).ok());
            match conf {
                Some(text) => dirs.extend(
                    text.split([':', '\n'])
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned),
                ),
                None => dirs.extend(["/lib", "/usr/local/lib", "/usr/lib"].map(String::from)),
            }
        } else {
            let triplet = format!("{cpu}-linux-gnu");
            dirs.extend([
                format!("/lib/{triplet}"),
                format!("/usr/lib/{triplet}"),
                "/lib".into(),
                "/usr/lib".into(),
                "/lib64".into(),
                "/usr/lib64".into(),
                "/usr/local/lib".into(),
            ]);
        }
        dirs
    }

    /// `path` in the image, symlinks followed the way the kernel follows them inside
    /// the container (an absolute target starts again at the image root, never at this
    /// machine's); `None` when nothing is there.
    fn locate(&self, path: &str) -> Option<Utf8PathBuf> {
        let mut todo: VecDeque<String> = path.split('/').map(str::to_owned).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => done.push(part),
            }
            let here = self.fs.join(done.join("/"));
            let meta = std::fs::symlink_metadata(&here).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                let target = std::fs::read_link(&here).ok()?;
                let target = target.to_str()?;
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                if hops > 40 {
                    return None;
                }
                for t in target.split('/').rev() {
                    todo.push_front(t.to_owned());
                }
            }
        }
        let at = self.fs.join(done.join("/"));
        at.is_file().then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(compose: Option<crate::compose::Compose>) -> Extension {
        let vm = match compose {
            Some(_) => r#"{"composefile": "docker-compose.yaml"}"#.to_owned(),
            None => format!(r#"{{"image": "{OWN_IMAGE}", "exposes": {{"socket": "s.sock"}}}}"#),
        };
        let text = format!(r#"{{"icon": "i.svg", "vm": {vm}}}"#);
        let mut e = Extension::parse(Utf8Path::new("metadata.json"), &text, None).unwrap();
        e.compose = compose;
        e
    }

    /// A scratch image tree holding `files` (image path -> host file to copy).
    fn tree(name: &str, files: &[(&str, &Utf8Path)]) -> Utf8PathBuf {
        let dir = crate::paths::target_dir().join("xtask-unit/vm").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (to, from) in files {
            let to = dir.join(to.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, &to).unwrap();
            crate::digest::set_mode(&to, 0o755).unwrap();
        }
        dir
    }

    fn host() -> Option<ImagePlatform> {
        need(crate::verify::host_platform(), "an amd64 or arm64 machine")
    }

    /// Under `CI` a missing prerequisite fails the test rather than skipping it.
    fn need<T>(x: Option<T>, what: &str) -> Option<T> {
        if x.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "missing prerequisite: {what}"
            );
            eprintln!("SKIPPED: missing prerequisite: {what}");
        }
        x
    }

    #[cfg(unix)]
    fn other(p: ImagePlatform) -> ImagePlatform {
        ImagePlatform::ALL.into_iter().find(|q| *q != p).unwrap()
    }

    fn cmd(argv: &[&str]) -> Value {
        json!({"config": {"Cmd": argv, "Env": ["PATH=/bin"]}})
    }

    /// The test binary itself: an ELF for this machine, static or not as Rust built it.
    fn static_exe() -> Option<Utf8PathBuf> {
        let busybox = Utf8Path::new("/usr/bin/busybox");
        let ok = std::fs::read(busybox).ok().and_then(|b| read_elf(&b).ok());
        ok.filter(|e| e.interpreter.is_none())
            .map(|_| busybox.to_owned())
    }

    // Symlinks in the image tree, and this Linux machine's busybox as the service.
    #[cfg(unix)]
    #[test]
    fn static_service_of_the_variants_cpu_in_scratch() {
        let (Some(p), Some(exe)) = (host(), static_exe()) else {
            return;
        };
        let fs = tree("static", &[("/svc", &exe)]);
        assert_eq!(
            check(
                p,
                &cmd(&["/svc", "--socket", "/run/guest-services/s.sock"]),
                &fs,
                &ext(None)
            ),
            Vec::<String>::new()
        );
        let wrong = check(other(p), &cmd(&["/svc"]), &fs, &ext(None));
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        assert!(
            wrong[0].starts_with("/svc: service cpu: expected ELF "),
            "{wrong:?}"
        );
        // Found on PATH, and through a symlink whose absolute target is read in the image.
        std::os::unix::fs::symlink("/svc", fs.join("bin-svc")).unwrap();
        std::fs::create_dir_all(fs.join("bin")).unwrap();
        std::os::unix::fs::symlink("/bin-svc", fs.join("bin/svc")).unwrap();
        assert_eq!(
            check(p, &cmd(&["svc"]), &fs, &ext(None)),
            Vec::<String>::new()
        );
        let none = check(p, &json!({"config": {}}), &fs, &ext(None));
        assert!(
            none[0].contains("service command: expected an Entrypoint or Cmd"),
            "{none:?}"
        );
        let missing = check(p, &cmd(&["/nope"]), &fs, &ext(None));
        assert!(
            missing[0].starts_with("/nope: service executable: expected the program"),
            "{missing:?}"
        );
    }

    // Symlinks in the image tree, and this Linux machine's busybox as the service.
    #[cfg(unix)]
    #[test]
    fn shell_form_needs_a_shell() {
        let (Some(p), Some(exe)) = (host(), static_exe()) else {
            return;
        };
        let shell = cmd(&["/bin/sh", "-c", "/svc -socket /run/guest-services/s.sock"]);
        let fs = tree("shell-scratch", &[("/svc", &exe)]);
        let e = check(p, &shell, &fs, &ext(None));
        assert!(
            e.len() == 1
                && e[0].starts_with("/bin/sh: service shell: expected a shell in the image"),
            "{e:?}"
        );
        let fs = tree("shell-busybox", &[("/svc", &exe), ("/bin/busybox", &exe)]);
        std::os::unix::fs::symlink("/bin/busybox", fs.join("bin/sh")).unwrap();
        assert_eq!(check(p, &shell, &fs, &ext(None)), Vec::<String>::new());
    }

    /// This machine's own dynamic /bin/sh, first alone, then with its loader and libraries
    /// copied from this machine into the tree.
    #[test]
    fn dynamic_service_needs_its_loader_and_libraries() {
        let Some(p) = host() else { return };
        let sh = Utf8Path::new("/bin/sh");
        let Some(elf) = std::fs::read(sh).ok().and_then(|b| read_elf(&b).ok()) else {
            return;
        };
        let Some(interp) = elf.interpreter.clone() else {
            return;
        };
        let fs = tree("dynamic", &[("/bin/sh", sh)]);
        let run = cmd(&["/bin/sh", "-c", "true"]);
        let e = check(p, &run, &fs, &ext(None)).join("\n");
        assert!(e.contains(&format!("/bin/sh: service loader: expected its loader {interp} (PT_INTERP) in the image, found nothing")), "{e}");
        for lib in &elf.needed {
            assert!(
                e.contains(&format!(
                    "/bin/sh: service library: expected {lib} (needed by /bin/sh) in "
                )),
                "{e}"
            );
        }
        let host_fs = Image {
            fs: Utf8Path::new("/"),
            arch: p.0,
            path: "",
            workdir: "/",
        };
        let dirs = host_fs.library_dirs(&interp, &elf);
        let mut files = vec![(interp.clone(), host_fs.locate(&interp).unwrap())];
        for lib in &elf.needed {
            let at = dirs
                .iter()
                .map(|d| format!("{d}/{lib}"))
                .find(|p| host_fs.locate(p).is_some())
                .unwrap();
            files.push((at.clone(), host_fs.locate(&at).unwrap()));
        }
        files.push(("/bin/sh".into(), sh.to_owned()));
        let files: Vec<(&str, &Utf8Path)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_path()))
            .collect();
        let fs = tree("dynamic-complete", &files);
        assert_eq!(check(p, &run, &fs, &ext(None)), Vec::<String>::new());
    }

    #[test]
    fn compose_services_of_the_own_image_are_checked_with_their_overrides() {
        let (Some(p), Some(exe)) = (host(), static_exe()) else {
            return;
        };
        let fs = tree("compose", &[("/svc", &exe)]);
        let compose = crate::compose::parse(
            Utf8Path::new("c.yaml"),
            &format!("services:\n  a:\n    image: {OWN_IMAGE}\n  b:\n    image: {OWN_IMAGE}\n    entrypoint: [\"/other\"]\n  db:\n    image: postgres\n    command: /not/checked\n"),
        )
        .unwrap();
        let e = check(p, &cmd(&["/svc"]), &fs, &ext(Some(compose)));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "/other: service executable: expected the program compose service `b` runs"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn not_an_elf() {
        assert_eq!(
            read_elf(b"MZ\x90\x00").unwrap_err(),
            "not an ELF file (starts with 4d5a9000)"
        );
    }
}
