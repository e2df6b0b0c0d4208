//! Running x86_64 Windows binaries under wine.
//!
//! Debian bookworm's wine 8.0 has no `bcryptprimitives.dll` at all, and Rust's std imports
//! `ProcessPrng` from it, so every Rust PE fails to start (exit 53, nothing printed under
//! WINEDEBUG=-all). A 12 KiB DLL built once with MinGW exports `ProcessPrng` through
//! advapi32's `SystemFunction036` (RtlGenRandom); each run copies the exe into a scratch
//! directory beside it, so nothing is written to the staged tree. A DLL override alone
//! cannot help (there is no built-in to override); with a wine that has its own
//! `ProcessPrng`, the shim beside the exe is loaded instead, which is harmless.

use std::fs;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use super::{tail, Options, Tools};
use crate::cmd::Cmd;

/// Creating a wine prefix takes ~7 s here; it gets its own, longer, limit.
const INIT_TIMEOUT: Duration = Duration::from_secs(300);

/// A prepared wine: the shim built and the prefix created.
pub(super) struct Wine {
    loader: Utf8PathBuf,
    dir: Utf8PathBuf,
}

const SHIM_C: &str = r#"/* Rust's std on Windows imports ProcessPrng; wine 8 lacks it. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
"#;

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

impl Wine {
    pub(super) fn prepare(loader: &str, tools: &Tools, opts: &Options) -> Result<Wine, String> {
        let wine = Wine {
            loader: loader.into(),
            dir: opts.cache_dir.join("wine"),
        };
        // The cache is shared by every checkout: one run at a time builds the shim and
        // creates the prefix.
        fs::create_dir_all(&wine.dir).map_err(|e| format!("{}: {e}", wine.dir))?;
        let lock = fs::File::create(wine.dir.join("prepare.lock"))
            .and_then(|f| f.lock().map(|()| f))
            .map_err(|e| format!("cannot lock {}: {e}", wine.dir))?;
        let _lock = lock;
        wine.build_shim(tools)
            .map_err(|e| format!("no ProcessPrng shim for wine: {e}"))?;
        wine.init_prefix()
            .map_err(|e| format!("cannot create the wine prefix: {e}"))?;
        Ok(wine)
    }

    /// Built once per source text; written under a temporary name, then renamed.
    fn build_shim(&self, tools: &Tools) -> Result<(), String> {
        let (src, dll) = (
            self.dir.join("shim.c"),
            self.dir.join("bcryptprimitives.dll"),
        );
        if dll.is_file() && fs::read_to_string(&src).is_ok_and(|s| s == SHIM_C) {
            return Ok(());
        }
        let gcc = tools
            .mingw_gcc
            .as_ref()
            .ok_or("x86_64-w64-mingw32-gcc not found (apt-get install gcc-mingw-w64-x86-64)")?;
        fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir))?;
        let tmp = self.dir.join(format!("shim-{}.dll", std::process::id()));
        fs::write(&src, SHIM_C).map_err(|e| format!("{src}: {e}"))?;
        let cmd = Cmd::new(
            gcc.as_str(),
            [
                "-shared",
                "-O2",
                "-s",
                "-o",
                tmp.as_str(),
                src.as_str(),
                "-ladvapi32",
            ],
        );
        match cmd.run_timed(INIT_TIMEOUT) {
            Ok(r) if r.status.is_some_and(|s| s.success()) => {}
            Ok(r) => return Err(format!("{gcc} failed: {}", tail(&r.stderr))),
            Err(e) => return Err(format!("cannot run {gcc}: {e}")),
        }
        fs::rename(&tmp, &dll).map_err(|e| format!("{dll}: {e}"))
    }

    fn init_prefix(&self) -> Result<(), String> {
        let ready = self.dir.join("prefix.ready");
        if ready.is_file() {
            return Ok(());
        }
        let cmd = self.base().args_from(["wineboot", "--init"]);
        match cmd.run_timed(INIT_TIMEOUT) {
            Ok(r) if r.status.is_some_and(|s| s.success()) => {}
            Ok(r) => return Err(format!("wineboot failed: {}", tail(&r.stderr))),
            Err(e) => return Err(format!("cannot run {}: {e}", self.loader)),
        }
        fs::write(&ready, "").map_err(|e| format!("{ready}: {e}"))
    }

    /// The loader with a private prefix, no debug noise, no Mono/Gecko install prompts,
    /// no window, and the shim preferred over any built-in.
    fn base(&self) -> Cmd {
        Cmd::new(self.loader.as_str(), Vec::<String>::new())
            .env("WINEPREFIX", self.dir.join("prefix").as_str())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=;bcryptprimitives=n,b")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
    }

    /// The loader and its environment for running Windows programs in place, e.g. as
    /// cargo's runner for tests built for `x86_64-pc-windows-gnu`: the shim is found
    /// on the Windows PATH (`WINEPATH`), which Windows searches for DLLs after the exe's
    /// own directory. (`WINEDLLPATH` does not help: wine 8 looks there only for its own
    /// built-in DLLs, not for a native one like the shim; seen here.)
    pub(super) fn in_place(&self) -> Cmd {
        let dir = self.dir.as_str().replace('/', "\\");
        // Wine maps the Unix root to drive Z: in every new prefix.
        self.base().env("WINEPATH", format!("Z:{dir}"))
    }

    /// `wine <copy of exe>` in a scratch directory that also holds the shim; the caller
    /// removes the directory.
    pub(super) fn command(&self, exe: &Utf8Path) -> Result<(Cmd, Utf8PathBuf), String> {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let scratch = self.dir.join(format!("run-{}-{n}", std::process::id()));
        let name = exe.file_name().unwrap_or("bin.exe");
        let copy = || -> io::Result<()> {
            fs::create_dir_all(&scratch)?;
            fs::copy(exe, scratch.join(name))?;
            let shim = "bcryptprimitives.dll";
            fs::copy(self.dir.join(shim), scratch.join(shim))?;
            Ok(())
        };
        copy().map_err(|e| format!("cannot copy {exe} to {scratch}: {e}"))?;
        // The shim is found beside the exe: Windows looks in the exe's directory first.
        Ok((self.base().arg(scratch.join(name).as_str()), scratch))
    }
}
