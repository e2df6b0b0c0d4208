//! What `verify` reads from an ELF file to tell whether it starts in an image: its CPU, its
//! loader (`PT_INTERP`) and the libraries it needs (`DT_NEEDED`, `RUNPATH`), as the one
//! executable-header reader ([`crate::binfmt`]) reads them.

use crate::binfmt::{self, Cpu, Format};
use crate::target::Arch;

/// The kernel's name of the variant's CPU (`uname -m`), as in loader paths
/// (`ld-musl-aarch64.path`), Debian's multiarch triplets and qemu's binaries.
pub fn machine(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

/// What the checks read from an ELF file's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    /// The file's CPU, spelled as every other message spells it.
    pub machine: Option<Cpu>,
    /// `PT_INTERP`: the dynamic loader, absent in a static executable.
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` directories.
    pub runpath: Vec<String>,
}

impl Elf {
    /// `ELF x86_64`, as verify's other messages name a format and CPU.
    pub fn cpu_name(&self) -> String {
        match self.machine {
            Some(c) => format!("ELF {c}"),
            None => "ELF of no single CPU".to_owned(),
        }
    }
}

/// Reads an ELF file's CPU, loader and needed libraries; an error says what the bytes are
/// instead. `data` is the whole file (the dynamic segment may sit anywhere in it).
pub fn read_elf(data: &[u8]) -> Result<Elf, String> {
    if !data.starts_with(b"\x7fELF") {
        let head: String = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(format!("not an ELF file (starts with {head})"));
    }
    let info = binfmt::sniff(data).map_err(|e| e.to_string())?;
    if info.format != Format::Elf {
        return Err(format!("not an ELF file ({})", info.format));
    }
    let needed = info.needed.clone().ok_or_else(|| {
        "malformed ELF header: the dynamic segment lies past the end of the file".to_owned()
    })?;
    Ok(Elf {
        machine: info.cpu(),
        interpreter: info.interpreter,
        needed,
        runpath: info.runpath,
    })
}
