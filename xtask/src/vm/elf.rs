//! What `verify` reads from an ELF file to tell whether it starts in an image: its CPU, its
//! loader (`PT_INTERP`) and the libraries it needs (`DT_NEEDED`, `RUNPATH`), with the
//! `object` crate. Kept apart so it can move onto the shared executable-header reader.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

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
    /// `None` for a CPU no image variant has (`raw_machine` says which).
    pub machine: Option<crate::binfmt::Cpu>,
    pub raw_machine: u16,
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
            None => format!("ELF machine {}", self.raw_machine),
        }
    }
}

/// Reads a 64-bit ELF's CPU, loader and needed libraries with `object`; an error says
/// what the bytes are instead. (Isolated so it can move onto the shared header reader.)
pub fn read_elf(data: &[u8]) -> Result<Elf, String> {
    if !data.starts_with(b"\x7fELF") {
        let head: String = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(format!("not an ELF file (starts with {head})"));
    }
    if data.get(4) == Some(&1) {
        return Err("a 32-bit ELF file".to_owned());
    }
    let bad = |e: object::read::Error| format!("a malformed ELF file ({e})");
    let header = elf::FileHeader64::<Endianness>::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let raw_machine = header.e_machine(endian);
    let machine = match raw_machine {
        elf::EM_X86_64 => Some(crate::binfmt::Cpu::X86_64),
        elf::EM_AARCH64 => Some(crate::binfmt::Cpu::Aarch64),
        _ => None,
    };
    let mut interpreter = None;
    for ph in header.program_headers(endian, data).map_err(bad)? {
        if let Some(i) = ph.interpreter(endian, data).map_err(bad)? {
            interpreter = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let (mut needed, mut runpath) = (Vec::new(), Vec::new());
    let sections = header.sections(endian, data).map_err(bad)?;
    let table = sections.dynamic_table(endian, data).map_err(bad)?;
    for d in &table {
        let text = || {
            table
                .string(d)
                .map(|s| String::from_utf8_lossy(s).into_owned())
        };
        if d.tag == elf::DT_NEEDED {
            needed.push(text().map_err(bad)?);
        } else if d.tag == elf::DT_RUNPATH || d.tag == elf::DT_RPATH {
            runpath.extend(text().map_err(bad)?.split(':').map(str::to_owned));
        }
    }
    Ok(Elf {
        machine,
        raw_machine: raw_machine.0,
        interpreter,
        needed,
        runpath,
    })
}
