//! Real binaries, built here with zig, MinGW and gcc, each breaking one loadability rule,
//! checked for the exact problem line; the real host-bin for all six targets passes; and
//! the smoke runner really runs what this machine can (natively, qemu-user, wine).
//! Under `CI` a missing zig, MinGW, gcc, qemu or wine fails the test instead of skipping.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use xtask::binfmt::{check, Cpu, Floors, Os};
use xtask::smoke::{self, Case, How, Outcome, Smoked, Tools};

use crate::support::binaries::*;
use crate::support::{require, root, staged};

/// The six staged targets: triple, OS, CPU, image platform.
const TARGETS: [(&str, Os, Cpu, &str); 6] = [
    (
        "x86_64-unknown-linux-musl",
        Os::Linux,
        Cpu::X86_64,
        "linux-amd64",
    ),
    (
        "aarch64-unknown-linux-musl",
        Os::Linux,
        Cpu::Aarch64,
        "linux-arm64",
    ),
    (
        "x86_64-pc-windows-gnu",
        Os::Windows,
        Cpu::X86_64,
        "linux-amd64",
    ),
    (
        "aarch64-pc-windows-gnullvm",
        Os::Windows,
        Cpu::Aarch64,
        "linux-arm64",
    ),
    (
        "x86_64-apple-darwin",
        Os::Darwin,
        Cpu::X86_64,
        "linux-amd64",
    ),
    (
        "aarch64-apple-darwin",
        Os::Darwin,
        Cpu::Aarch64,
        "linux-arm64",
    ),
];

fn problems(path: &Path, os: Os, cpu: Cpu) -> Vec<String> {
    let bytes = fs::read(path).unwrap();
    let report = check(&bytes, os, cpu, &Floors::default());
    eprintln!("{}: {}", path.display(), report.format);
    report.problems.iter().map(ToString::to_string).collect()
}

const BREW: &str = "dylib: expected a system library under /usr/lib/ or /System/Library/, found \
                    /opt/homebrew/lib/libfoo.dylib";
const UNSIGNED: &str = "code signature: expected LC_CODE_SIGNATURE (Apple silicon kills \
                        unsigned arm64 code; ad-hoc is enough), found none";

#[test]
fn a_mach_o_linking_a_homebrew_dylib_or_built_for_a_newer_macos_is_reported() {
    let Some(app) = homebrew_macho("loadable-homebrew", "aarch64-macos") else {
        return;
    };
    assert_eq!(
        problems(app.as_std_path(), Os::Darwin, Cpu::Aarch64),
        [BREW]
    );
    let Some(new) = newer_macos("loadable-newer") else {
        return;
    };
    assert_eq!(
        problems(new.as_std_path(), Os::Darwin, Cpu::Aarch64),
        ["minimum macOS: expected 14.0 or older, found 15.0"]
    );
    let floors = Floors {
        macos: (15, 0),
        ..Floors::default()
    };
    let bytes = fs::read(&new).unwrap();
    assert!(check(&bytes, Os::Darwin, Cpu::Aarch64, &floors).is_ok());
}

#[test]
fn an_arm64_host_bin_without_its_code_signature_is_reported() {
    let Some(bins) = host_bins() else { return };
    let signed = fs::read(bins.join("aarch64-apple-darwin/release/host-bin")).unwrap();
    let dir = scratch("loadable-unsigned");
    let unsigned = dir.join("host-bin");
    fs::write(&unsigned, drop_load_command(&signed, LC_CODE_SIGNATURE)).unwrap();
    assert_eq!(
        problems(unsigned.as_std_path(), Os::Darwin, Cpu::Aarch64),
        [UNSIGNED]
    );
}

/// What macOS checks when it pages code in: one byte of the real, zig-signed arm64
/// host-bin's code flipped after linking no longer hashes to its page's slot.
#[test]
fn an_arm64_host_bin_patched_after_signing_is_reported_naming_the_page() {
    let Some(bins) = host_bins() else { return };
    let signed = fs::read(bins.join("aarch64-apple-darwin/release/host-bin")).unwrap();
    let (patched, at) = flip_text_byte(&signed);
    let dir = scratch("loadable-patched");
    let path = dir.join("host-bin");
    fs::write(&path, &patched).unwrap();
    let lines = problems(path.as_std_path(), Os::Darwin, Cpu::Aarch64);
    let page = at / 4096;
    let expected = format!(
        "page hash: expected page {page} (bytes {:#x}..{:#x}) to hash to ",
        page * 4096,
        (page + 1) * 4096
    );
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].starts_with(&expected), "{}", lines[0]);
    assert!(
        lines[0].ends_with(": the file changed after it was signed"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_universal_host_bin_is_accepted_for_each_cpu_it_holds() {
    let Some(bins) = host_bins() else { return };
    let x86 = fs::read(bins.join("x86_64-apple-darwin/release/host-bin")).unwrap();
    let arm = fs::read(bins.join("aarch64-apple-darwin/release/host-bin")).unwrap();
    let both = fat(&[(CPU_TYPE_X86_64, &x86), (CPU_TYPE_ARM64, &arm)]);
    for cpu in [Cpu::X86_64, Cpu::Aarch64] {
        let r = check(&both, Os::Darwin, cpu, &Floors::default());
        assert_eq!(r.format, "Mach-O universal (x86_64, arm64)");
        assert_eq!(r.problems, [], "{cpu}");
    }
    let only_x86 = fat(&[(CPU_TYPE_X86_64, &x86)]);
    let r = check(&only_x86, Os::Darwin, Cpu::Aarch64, &Floors::default());
    let lines: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["cpu: expected a slice for arm64, found x86_64"]);
}

#[test]
fn a_pe_needing_mingw_runtime_or_a_gui_subsystem_is_reported() {
    let Some(dir) = mingw_exes("loadable-pe") else {
        return;
    };
    let dir = dir.into_std_path_buf();
    assert_eq!(
        problems(&dir.join("threads.exe"), Os::Windows, Cpu::X86_64),
        [
            "DLL: expected a DLL every Windows 10 has (system DLL or api-ms-win-*/ext-ms-* API \
          set), found libwinpthread-1.dll (MinGW's runtime: link it statically)"
        ]
    );
    assert_eq!(
        problems(&dir.join("gui.exe"), Os::Windows, Cpu::X86_64),
        [
            "subsystem: expected console (IMAGE_SUBSYSTEM_WINDOWS_CUI), found GUI \
          (IMAGE_SUBSYSTEM_WINDOWS_GUI; a host binary is a command-line program whose stdout \
          ddClient.extension.host.cli.exec reads)"
        ]
    );
}

#[test]
fn a_dynamic_elf_is_reported_with_its_interpreter() {
    let Some(hello) = dynamic_elf("loadable-elf") else {
        return;
    };
    let (found, os, cpu) = match std::env::consts::ARCH {
        "aarch64" => ("/lib/ld-linux-aarch64.so.1", Os::Linux, Cpu::Aarch64),
        _ => ("/lib64/ld-linux-x86-64.so.2", Os::Linux, Cpu::X86_64),
    };
    assert_eq!(
        problems(hello.as_std_path(), os, cpu),
        [format!(
            "static: expected a static executable (no PT_INTERP), found a dynamic one with \
             interpreter {found}"
        )]
    );
    // What a VM service image must then provide: the loader and each needed library.
    let info = xtask::binfmt::sniff_file(&hello).unwrap();
    assert_eq!(info.interpreter.as_deref(), Some(found));
    assert_eq!(info.needed, Some(vec!["libc.so.6".to_owned()]), "{info}");
}

/// Every truncation of every real host-bin is a report, never a panic, and passes only
/// once nothing the loader maps is missing (what follows is symbols and section headers).
#[test]
fn the_real_host_bin_passes_for_all_six_targets_and_no_cut_of_it_panics() {
    let Some(bins) = host_bins() else { return };
    for (triple, os, cpu, _) in TARGETS {
        let exe = if os == Os::Windows {
            "host-bin.exe"
        } else {
            "host-bin"
        };
        let path = bins.join(triple).join("release").join(exe);
        assert_eq!(problems(&path, os, cpu), Vec::<String>::new(), "{triple}");
        let bytes = fs::read(&path).unwrap();
        let first_ok = (0..bytes.len())
            .find(|&n| check(&bytes[..n], os, cpu, &Floors::default()).is_ok())
            .unwrap_or(bytes.len());
        assert!(
            first_ok > bytes.len() / 2,
            "{triple}: a cut at {first_ok} passes"
        );
        for n in first_ok..bytes.len() {
            let r = check(&bytes[..n], os, cpu, &Floors::default());
            assert!(r.is_ok(), "{triple} cut at {n}: {:?}", r.problems);
        }
    }
}

/// The real host-bin for all six targets, as `stage` built them (the suite's shared
/// staged tree), laid out as `<triple>/release/<exe>` like cargo's target directory.
fn host_bins() -> Option<&'static Path> {
    static LAID: OnceLock<Option<PathBuf>> = OnceLock::new();
    LAID.get_or_init(|| {
        let stage = staged()?;
        let dir = root().join("target/it/loadable/build");
        for (triple, os, _, platform) in TARGETS {
            let (os_dir, exe) = match os {
                Os::Darwin => ("darwin", "host-bin"),
                Os::Windows => ("windows", "host-bin.exe"),
                Os::Linux => ("linux", "host-bin"),
            };
            let to = dir.join(triple).join("release");
            fs::create_dir_all(&to).unwrap();
            fs::copy(stage.join(platform).join(os_dir).join(exe), to.join(exe)).unwrap();
        }
        Some(dir.into_std_path_buf())
    })
    .as_deref()
}

fn smoke_tools_ready(tools: &Tools) -> bool {
    require(
        "qemu-aarch64-static",
        tools.qemu_aarch64.is_some(),
        "apt-get install qemu-user-static (or bash .ci/install-emulators.sh)",
    ) && require(
        "wine",
        tools.wine.is_some(),
        "apt-get install wine64 (or bash .ci/install-emulators.sh)",
    ) && mingw_ready()
}

/// A staged tree per image platform, as `stage` lays it out, holding the real host-bins.
fn stage_host_bins(bins: &Path) -> (Utf8PathBuf, Vec<Case>) {
    let stage = scratch("stage");
    let mut cases = Vec::new();
    for (triple, os, cpu, platform) in TARGETS {
        let (dir, exe) = match os {
            Os::Darwin => ("darwin", "host-bin"),
            Os::Windows => ("windows", "host-bin.exe"),
            Os::Linux => ("linux", "host-bin"),
        };
        let rel = format!("{platform}/{dir}/{exe}");
        fs::create_dir_all(stage.join(platform).join(dir)).unwrap();
        fs::copy(
            bins.join(triple).join("release").join(exe),
            stage.join(&rel),
        )
        .unwrap();
        cases.push(Case {
            path: rel.into(),
            os,
            cpu,
            args: vec!["info".into()],
            expect: format!("\"os\":\"{os}\""),
        });
    }
    (stage, cases)
}

#[test]
fn smoke_runs_each_host_bin_this_machine_can_and_says_why_not_for_the_rest() {
    let tools = Tools::detect();
    if tools.host != Some((Os::Linux, Cpu::X86_64)) {
        eprintln!("SKIPPED: written for an x86_64 Linux machine");
        return;
    }
    let Some(bins) = host_bins() else { return };
    if !smoke_tools_ready(&tools) {
        return;
    }
    let (stage, cases) = stage_host_bins(bins);
    let cache = scratch("smoke-cache");
    let opts = smoke::Options {
        cache_dir: cache,
        timeout: smoke::DEFAULT_TIMEOUT,
    };
    // The first wine run builds the shim and creates the prefix; the second reuses both.
    let windows: Vec<Case> = cases
        .iter()
        .filter(|c| c.path.as_str().contains("amd64/windows"))
        .cloned()
        .collect();
    for attempt in ["first", "second"] {
        let start = Instant::now();
        let results = smoke::run_all(&stage, &windows, &tools, &opts);
        eprintln!(
            "{attempt} wine run: {:.2} s: {}",
            start.elapsed().as_secs_f64(),
            results[0]
        );
        assert!(
            matches!(
                results[0].outcome,
                Outcome::Passed {
                    how: How::Wine(_),
                    ..
                }
            ),
            "{}",
            results[0]
        );
    }
    let results = smoke::run_all(&stage, &cases, &tools, &opts);
    for r in &results {
        eprintln!("{r}");
    }
    let outcome = |rel: &str| -> &Outcome {
        let found = results.iter().find(|r: &&Smoked| r.path == rel);
        &found
            .unwrap_or_else(|| panic!("no result for {rel}"))
            .outcome
    };
    assert!(matches!(
        outcome("linux-amd64/linux/host-bin"),
        Outcome::Passed {
            how: How::Native,
            ..
        }
    ));
    assert!(matches!(
        outcome("linux-arm64/linux/host-bin"),
        Outcome::Passed {
            how: How::Qemu(_),
            ..
        }
    ));
    assert!(matches!(
        outcome("linux-amd64/windows/host-bin.exe"),
        Outcome::Passed {
            how: How::Wine(_),
            ..
        }
    ));
    let not_run = |reason: &str| Outcome::NotRun {
        reason: reason.into(),
    };
    assert_eq!(
        outcome("linux-arm64/windows/host-bin.exe"),
        &not_run("nothing here runs arm64 Windows code (wine runs x86_64 PE here)")
    );
    for rel in ["linux-amd64/darwin/host-bin", "linux-arm64/darwin/host-bin"] {
        assert_eq!(outcome(rel), &not_run("nothing on linux executes Mach-O"));
    }
    assert!(
        fs::read_dir(stage.join("linux-amd64/windows"))
            .unwrap()
            .count()
            == 1,
        "wine's shim or scratch files leaked into the staged tree"
    );
}

#[test]
fn smoke_fails_a_binary_that_exits_non_zero_or_outlives_its_timeout() {
    let tools = Tools::detect();
    if tools.host != Some((Os::Linux, Cpu::X86_64)) {
        eprintln!("SKIPPED: written for an x86_64 Linux machine");
        return;
    }
    let stage = scratch("scripts");
    let script = |name: &str, body: &str| {
        let path = stage.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        Case {
            path: name.into(),
            os: Os::Linux,
            cpu: Cpu::X86_64,
            args: vec![],
            expect: "\"os\"".into(),
        }
    };
    let cases = [
        script(
            "fails",
            "echo '{\"os\":\"linux\"}'; echo 'cannot open /dev/thing' >&2; exit 1",
        ),
        // `sleep` is a grandchild holding the pipes: the whole process group must go.
        script(
            "hangs",
            "echo started; sleep 60 & echo $! >\"$0.pid\"; wait; echo '{\"os\":\"linux\"}'",
        ),
        script("quiet", "echo hello"),
    ];
    let cache_dir = scratch("scripts-cache");
    let run = |cases: &[Case], timeout: Duration| {
        let opts = smoke::Options {
            cache_dir: cache_dir.clone(),
            timeout,
        };
        let results = smoke::run_all(&stage, cases, &tools, &opts);
        results.into_iter().map(|r| match r.outcome {
            Outcome::Failed {
                how: How::Native,
                detail,
            } => detail,
            other => panic!("{}: expected a native failure, got {other:?}", r.path),
        })
    };
    let mut details: Vec<String> = run(
        &[cases[0].clone(), cases[2].clone()],
        smoke::DEFAULT_TIMEOUT,
    )
    .collect();
    let start = Instant::now();
    details.extend(run(&cases[1..2], Duration::from_secs(2)));
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "the timeout did not stop `hangs`"
    );
    // SIGKILL is delivered at once, but the exit takes a moment to finish.
    let pid = fs::read_to_string(stage.join("hangs.pid")).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let gone = || fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(), "the grandchild `sleep` survived the timeout");
    assert_eq!(
        details,
        [
            "exited with exit status: 1; stderr: \"cannot open /dev/thing\"",
            "stdout lacks \"\\\"os\\\"\"; stdout: \"hello\"",
            "timed out after 2 s and was killed; stdout: \"started\"; stderr: \"\"",
        ]
    );
}
