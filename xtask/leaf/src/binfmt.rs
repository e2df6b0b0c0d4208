//! Executable headers, read once: which format and CPU a binary is for ([`sniff`]) and
//! whether it will load on the OS Docker Desktop runs it on ([`check`]). Both read through
//! the `object` crate, so `stage`, `verify`, the smoke runner and the vendor checks share
//! one verdict per binary and one spelling per CPU ("x86_64", "arm64").
//!
//! [`sniff`] needs only a file's head (ELF program headers, Mach-O and PE file headers
//! sit in its first KiB); [`check`] reads the whole file: load commands, imports, the
//! Mach-O code signature's page hashes. Any bytes yield an answer, never a panic.
//!
//! Loadability, in one place: Apple silicon kills unsigned arm64 code, and macOS kills a
//! process whose pages do not hash to what its code directory says; a dylib outside the
//! OS is missing on the user's Mac, a MinGW DLL on a stock Windows; a GUI-subsystem exe
//! has no console for Docker Desktop to read; a binary built for a newer OS than the
//! user's refuses to start; a dynamic ELF has no loader in a `FROM scratch` image. A
//! universal Mach-O is valid when it holds the CPU asked for, each slice checked alike.

use std::fmt;
use std::io::Read;

use anyhow::Context;
use camino::Utf8Path;

mod codesign;
mod elf;
mod macho;
mod pe;
#[cfg(test)]
mod tests;

/// The executable format an OS loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    MachO,
    Pe,
    Elf,
}

/// A host OS the extension ships binaries for; also the directory name in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Os {
    Darwin,
    Windows,
    Linux,
}

/// The CPU a binary is built for. The two the extension ships are variants; any other
/// is named as its format's tools name it ("i386", "arm64e", "x32"), or by the raw ELF
/// `e_machine`, Mach-O `cputype` or PE `Machine` when it has no name here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cpu {
    X86_64,
    Aarch64,
    Named(&'static str),
    Other(u32),
}

/// Whether the binary needs a program interpreter (dynamic loader) to start.
///
/// ELF: `Dynamic` iff it has a `PT_INTERP` program header; that is what decides whether it
/// runs in a `FROM scratch` image. Mach-O and PE go through the OS loader, so the
/// question does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    Static,
    Dynamic,
    NotApplicable,
}

/// What a binary's headers say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinInfo {
    pub format: Format,
    /// One CPU for a thin binary; a universal Mach-O's slices, in file order.
    pub cpus: Vec<Cpu>,
    /// A Mach-O universal ("fat") binary.
    pub universal: bool,
    pub linkage: Linkage,
    /// ELF: the `PT_INTERP` path (`/lib/ld-musl-x86_64.so.1`).
    pub interpreter: Option<String>,
    /// ELF: the `DT_NEEDED` libraries, in order; empty without `PT_DYNAMIC`. `None` when
    /// the dynamic segment or its strings lie past the bytes read (a head of the file;
    /// [`sniff_file`] then reads the whole file).
    pub needed: Option<Vec<String>>,
    /// ELF: the `DT_RUNPATH` and `DT_RPATH` directories, in order (empty when absent, or
    /// when `needed` is `None`).
    pub runpath: Vec<String>,
}

impl BinInfo {
    /// Runs on `cpu`: a thin binary for it, or a universal one with a slice for it.
    pub fn runs_on(&self, cpu: Cpu) -> bool {
        self.cpus.contains(&cpu)
    }

    /// The CPU of a thin binary; `None` for a universal one.
    pub fn cpu(&self) -> Option<Cpu> {
        match self.cpus.as_slice() {
            [one] if !self.universal => Some(*one),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniffError {
    /// No known magic. Holds the first (up to 4) bytes to show in the message.
    NotExecutable { head: Vec<u8> },
    /// The header (or the ELF program headers) extends past the bytes we were given.
    Truncated { format: Format, detail: String },
    /// The magic matched, but a header field makes no sense.
    Malformed { format: Format, detail: String },
    /// A valid header, but for something the OS cannot run (an ELF object file or core dump).
    NotLoadable { format: Format, detail: String },
}

impl Os {
    pub const ALL: [Os; 3] = [Os::Darwin, Os::Windows, Os::Linux];

    /// The key in `metadata.json` and the directory in the image.
    pub fn dir(self) -> &'static str {
        match self {
            Os::Darwin => "darwin",
            Os::Windows => "windows",
            Os::Linux => "linux",
        }
    }

    pub fn from_dir(s: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|os| os.dir() == s)
    }

    pub fn exe_suffix(self) -> &'static str {
        match self {
            Os::Windows => ".exe",
            Os::Darwin | Os::Linux => "",
        }
    }

    /// The executable format this OS loads.
    pub fn format(self) -> Format {
        match self {
            Os::Darwin => Format::MachO,
            Os::Windows => Format::Pe,
            Os::Linux => Format::Elf,
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::MachO => "Mach-O",
            Format::Pe => "PE",
            Format::Elf => "ELF",
        })
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cpu::X86_64 => f.write_str("x86_64"),
            // "arm64" rather than "aarch64": Docker's platform names (linux/arm64) and
            // Apple's; every message spells it this way.
            Cpu::Aarch64 => f.write_str("arm64"),
            Cpu::Named(name) => f.write_str(name),
            Cpu::Other(raw) => write!(f, "unknown({raw:#x})"),
        }
    }
}

impl fmt::Display for BinInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.format)?;
        let cpus: Vec<String> = self.cpus.iter().map(Cpu::to_string).collect();
        match self.universal {
            true => write!(f, " universal ({})", cpus.join(", "))?,
            false => write!(f, " {}", cpus.join(", "))?,
        }
        match self.linkage {
            Linkage::Static => f.write_str(" static"),
            Linkage::Dynamic => f.write_str(" dynamic"),
            Linkage::NotApplicable => Ok(()),
        }
    }
}

impl fmt::Display for SniffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SniffError::NotExecutable { head } if head.is_empty() => {
                f.write_str("not an executable: file is empty")
            }
            SniffError::NotExecutable { head } => write!(
                f,
                "not an executable: starts with bytes {} (expected ELF, Mach-O or PE magic)",
                hex(head)
            ),
            SniffError::Truncated { format, detail } => {
                write!(f, "truncated {format} header: {detail}")
            }
            SniffError::Malformed { format, detail } => {
                write!(f, "malformed {format} header: {detail}")
            }
            SniffError::NotLoadable { format, detail } => {
                write!(f, "{format} file is not an executable: {detail}")
            }
        }
    }
}

impl std::error::Error for SniffError {}

fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(" ")
}

/// The format `bytes` claim by their magic, and for Mach-O whether it is universal.
fn magic(bytes: &[u8]) -> Option<(Format, bool)> {
    use object::macho::{FAT_MAGIC, FAT_MAGIC_64, MH_CIGAM, MH_CIGAM_64, MH_MAGIC, MH_MAGIC_64};
    let word = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    if bytes.starts_with(&object::elf::ELFMAG) {
        return Some((Format::Elf, false));
    }
    if bytes.starts_with(b"MZ") {
        return Some((Format::Pe, false));
    }
    match word(0)? {
        MH_MAGIC | MH_CIGAM | MH_MAGIC_64 | MH_CIGAM_64 => Some((Format::MachO, false)),
        // Also the Java class-file magic; there the next word is the class version
        // (>= 45), so a small count means a universal binary (file(1) does the same).
        FAT_MAGIC | FAT_MAGIC_64 => match word(4) {
            Some(archs) if archs >= 45 => None,
            _ => Some((Format::MachO, true)),
        },
        _ => None,
    }
}

/// Identify an executable from its leading bytes (the first 64 KiB are enough for
/// normal binaries; a whole file works too).
pub fn sniff(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    let not_executable = || SniffError::NotExecutable {
        head: bytes.get(..4).unwrap_or(bytes).to_vec(),
    };
    match magic(bytes).ok_or_else(not_executable)? {
        (Format::Elf, _) => elf::sniff(bytes),
        (Format::MachO, universal) => macho::sniff(bytes, universal),
        (Format::Pe, _) => pe::sniff(bytes),
    }
}

/// A PE file's link time (COFF header `TimeDateStamp`, seconds since 1970), which linkers
/// take from `SOURCE_DATE_EPOCH`; `None` for anything that is not PE.
pub fn pe_link_time(bytes: &[u8]) -> Option<u32> {
    pe::link_time(bytes)
}

/// [`sniff`] a file on disk: its first 64 KiB, or all of it when a dynamic ELF's
/// libraries lie past them. Verifying hundreds of binaries stays cheap.
pub fn sniff_file(path: &Utf8Path) -> anyhow::Result<BinInfo> {
    let context = || format!("identifying binary format of {path}");
    let info = sniff(&head(path)?).with_context(context)?;
    if info.format != Format::Elf || info.needed.is_some() {
        return Ok(info);
    }
    let whole = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    sniff(&whole).with_context(context)
}

/// The first 64 KiB of `path`, where [`sniff`] and [`pe_link_time`] find what they read.
pub fn head(path: &Utf8Path) -> anyhow::Result<Vec<u8>> {
    const MAX: u64 = 64 * 1024;
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut bytes = Vec::new();
    file.take(MAX)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {path}"))?;
    Ok(bytes)
}

/// The oldest OS versions the binaries must start on (major, minor). A binary whose
/// minimum OS is newer than these fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floors {
    pub macos: (u32, u32),
    pub windows: (u16, u16),
}

/// Docker Desktop supports "the current and two previous major macOS releases"
/// (https://docs.docker.com/desktop/setup/install/mac-install/); 4.48.0's release notes
/// (https://github.com/docker/docs/pull/23541) say 13 is dropped and 14 is required from
/// the next release. Rust's own minimums are lower (aarch64-apple-darwin 11.0, x86_64
/// 10.12) and zig 0.14 writes 13.0, so a default build passes. Raise it each autumn.
pub const DEFAULT_MACOS_FLOOR: (u32, u32) = (14, 0);

/// Windows 10 22H2 (build 19045) is the oldest Docker Desktop lists
/// (https://docs.docker.com/desktop/setup/install/windows-install/). PE headers carry
/// only major.minor, and Windows 10 and 11 are both 10.0.
pub const DEFAULT_WINDOWS_FLOOR: (u16, u16) = (10, 0);

impl Default for Floors {
    fn default() -> Self {
        Floors {
            macos: DEFAULT_MACOS_FLOOR,
            windows: DEFAULT_WINDOWS_FLOOR,
        }
    }
}

/// What the binary is ("Mach-O universal (x86_64, arm64)", "PE x86_64", "ELF arm64
/// static") and everything that would stop it loading; empty `problems` means loadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub format: String,
    pub problems: Vec<Problem>,
}

/// One failed rule. Displays as `rule: expected X, found Y`; callers prefix variant and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub rule: &'static str,
    pub expected: String,
    pub found: String,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.rule, self.expected, self.found
        )
    }
}

fn problem(rule: &'static str, expected: impl Into<String>, found: impl Into<String>) -> Problem {
    Problem {
        rule,
        expected: expected.into(),
        found: found.into(),
    }
}

/// Why a file could not be read: object's own message ("Invalid PE magic").
type Bad = String;

/// Checks `bytes` (the whole file) as the executable Docker Desktop would run on `os`
/// with `cpu`.
pub fn check(bytes: &[u8], os: Os, cpu: Cpu, floors: &Floors) -> Report {
    let mut out = Vec::new();
    let format = match magic(bytes) {
        Some((format, universal)) if format != os.format() => {
            let found = match universal {
                true => "Mach-O universal".to_owned(),
                false => format.to_string(),
            };
            out.push(problem("format", os.format().to_string(), found.clone()));
            Ok(found)
        }
        Some((Format::Elf, _)) => elf::check(bytes, cpu, &mut out),
        Some((Format::MachO, universal)) => macho::check(bytes, universal, cpu, floors, &mut out),
        Some((Format::Pe, _)) => pe::check(bytes, cpu, floors, &mut out),
        None => {
            let found = match bytes.is_empty() {
                true => "not an executable (empty file)".to_owned(),
                false => format!(
                    "not an executable (starts {})",
                    hex(&bytes[..bytes.len().min(4)])
                ),
            };
            out.push(problem("format", os.format().to_string(), found));
            Ok("not an executable".to_owned())
        }
    };
    let format = format.unwrap_or_else(|(name, err)| {
        out.push(problem(
            "format",
            format!("a well-formed {name}"),
            format!("malformed {name} ({err})"),
        ));
        name.to_owned()
    });
    Report {
        format,
        problems: out,
    }
}

/// A parse failure: which format ("PE", "Mach-O universal"), and object's reason.
type Parsed<T> = Result<T, (&'static str, Bad)>;

fn truncated(end: u64, len: usize, what: &str, slice: Option<Cpu>) -> Problem {
    let mut found = format!("{len} bytes");
    if let Some(s) = slice {
        found += &format!(" in the {s} slice");
    }
    let expected = format!("{end} bytes (where the last {what} ends)");
    problem("size", expected, found)
}
