//! ELF, 32- or 64-bit, either byte order: the CPU, the interpreter and needed libraries
//! (what decides whether it runs in a `FROM scratch` image), and whether every loaded
//! segment is in the file.

use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::read::Bytes;
use object::Endianness;

use super::{problem, truncated, BinInfo, Cpu, Format, Linkage, Parsed, Problem, SniffError};

/// What the rules read from an ELF file.
#[derive(Debug)]
struct Elf {
    cpu: Cpu,
    e_type: elf::FileType,
    interpreter: Option<String>,
    needed: Option<Vec<String>>,
    runpath: Vec<String>,
    /// Where the last `PT_LOAD` segment's file bytes end.
    load_end: u64,
}

pub(super) fn sniff(bytes: &[u8]) -> Result<BinInfo, SniffError> {
    let f = Format::Elf;
    let e = read(bytes).map_err(|unread| match unread {
        Unread::Malformed(detail) => SniffError::Malformed { format: f, detail },
        Unread::Truncated(detail) => SniffError::Truncated { format: f, detail },
    })?;
    // ET_EXEC, or ET_DYN for PIE (static-pie included) and shared libraries. Anything else
    // (an object file, a core dump) has no meaningful linkage, and "static" would be a lie.
    if e.e_type != elf::ET_EXEC && e.e_type != elf::ET_DYN {
        let detail = match e.e_type {
            elf::ET_REL => "e_type 1 (relocatable object file)".to_owned(),
            other => format!("e_type {}", other.0),
        };
        return Err(SniffError::NotLoadable { format: f, detail });
    }
    Ok(BinInfo {
        format: f,
        cpus: vec![e.cpu],
        universal: false,
        linkage: match e.interpreter {
            Some(_) => Linkage::Dynamic,
            None => Linkage::Static,
        },
        interpreter: e.interpreter,
        needed: e.needed,
        runpath: e.runpath,
    })
}

pub(super) fn check(bytes: &[u8], want: Cpu, out: &mut Vec<Problem>) -> Parsed<String> {
    let e = read(bytes).map_err(|unread| match unread {
        Unread::Malformed(why) | Unread::Truncated(why) => ("ELF", why),
    })?;
    if e.cpu != want {
        out.push(problem("cpu", want.to_string(), e.cpu.to_string()));
    }
    if e.e_type != elf::ET_EXEC && e.e_type != elf::ET_DYN {
        let found = match e.e_type {
            elf::ET_REL => "a relocatable object".to_owned(),
            elf::ET_CORE => "a core dump".to_owned(),
            t => format!("ELF type {}", t.0),
        };
        out.push(problem("kind", "an executable", found));
    }
    if let Some(i) = &e.interpreter {
        let expected = "a static executable (no PT_INTERP)";
        let found = format!("a dynamic one with interpreter {i}");
        out.push(problem("static", expected, found));
    }
    if e.load_end > bytes.len() as u64 {
        out.push(truncated(e.load_end, bytes.len(), "segment", None));
    }
    let linkage = match e.interpreter {
        Some(_) => "dynamic",
        None => "static",
    };
    Ok(format!("ELF {} {linkage}", e.cpu))
}

/// Why the headers could not be read.
enum Unread {
    /// What `sniff` needs ends past the bytes given (a head of the file).
    Truncated(String),
    /// In object's words.
    Malformed(String),
}

fn read(bytes: &[u8]) -> Result<Elf, Unread> {
    // e_ident[EI_CLASS], the byte after the magic, says which header layout follows.
    match bytes.get(4) {
        Some(&class) if class == elf::ELFCLASS32.0 => read_as::<FileHeader32<Endianness>>(bytes),
        Some(_) => read_as::<FileHeader64<Endianness>>(bytes),
        None => Err(Unread::Truncated(format!(
            "ident beyond {} bytes read",
            bytes.len()
        ))),
    }
}

fn read_as<H: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<Elf, Unread> {
    let malformed = |e: object::read::Error| Unread::Malformed(e.to_string());
    let len = bytes.len();
    if len < std::mem::size_of::<H>() {
        return Err(Unread::Truncated(format!(
            "ELF header beyond {len} bytes read"
        )));
    }
    let header = H::parse(bytes).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    let phdrs = match header.program_headers(endian, bytes) {
        Ok(phdrs) => phdrs,
        Err(e) => {
            // Demand the whole table: answering "static" because the PT_INTERP entry was
            // cut off would be exactly the wrong guess. Say so when that is why.
            let (phoff, phnum): (u64, u64) =
                (header.e_phoff(endian).into(), header.e_phnum(endian).into());
            let size = std::mem::size_of::<H::ProgramHeader>() as u64;
            let end = phnum.checked_mul(size).and_then(|s| s.checked_add(phoff));
            if phnum < u64::from(elf::PN_XNUM) && end.is_none_or(|end| end > len as u64) {
                let detail = format!(
                    "{phnum} program headers at e_phoff {phoff:#x} beyond {len} bytes read"
                );
                return Err(Unread::Truncated(detail));
            }
            return Err(malformed(e));
        }
    };
    let mut interpreter = None;
    let mut load_end = 0u64;
    for ph in phdrs {
        if ph.p_type(endian) == elf::PT_LOAD {
            load_end = load_end.max(offset_end(ph, endian));
        }
        match ph.interpreter(endian, bytes) {
            Ok(path) => {
                interpreter = path
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .or(interpreter)
            }
            // The path lies past a head of the file: unknown, not absent.
            Err(_) if offset_end(ph, endian) > len as u64 => {
                let detail = format!("PT_INTERP beyond {len} bytes read");
                return Err(Unread::Truncated(detail));
            }
            Err(e) => return Err(malformed(e)),
        }
    }
    let dynamic = dynamic::<H>(phdrs, endian, bytes);
    let (needed, runpath) = match dynamic {
        Some(d) => (Some(d.needed), d.runpath),
        None => (None, Vec::new()),
    };
    Ok(Elf {
        cpu: cpu(header.e_machine(endian), header.is_type_64(), endian),
        e_type: header.e_type(endian),
        interpreter,
        needed,
        runpath,
        load_end,
    })
}

fn offset_end<P: ProgramHeader<Endian = Endianness>>(ph: &P, endian: Endianness) -> u64 {
    let (offset, size) = ph.file_range(endian);
    offset.saturating_add(size)
}

/// What the dynamic segment names: the libraries and where to look for them.
struct Dynamic {
    /// `DT_NEEDED`, in order.
    needed: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` directories, in order.
    runpath: Vec<String>,
}

/// The dynamic segment's names, found through the program headers alone (section
/// headers may be stripped, and sit at the end of the file); `None` when they lie past
/// `bytes`.
fn dynamic<H: FileHeader<Endian = Endianness>>(
    phdrs: &[H::ProgramHeader],
    endian: Endianness,
    bytes: &[u8],
) -> Option<Dynamic> {
    let empty = || Dynamic {
        needed: Vec::new(),
        runpath: Vec::new(),
    };
    let mut entries = None;
    for ph in phdrs {
        if let Some(d) = ph.dynamic(endian, bytes).ok()? {
            entries = Some(d);
        }
    }
    let Some(entries) = entries else {
        return Some(empty());
    };
    let tag = |t| {
        entries
            .iter()
            .find(|d| d.tag32(endian) == Some(t))
            .map(|d| d.val(endian))
    };
    let with = |tags: &[i32]| -> Vec<u64> {
        entries
            .iter()
            .filter(|d| d.tag32(endian).is_some_and(|t| tags.contains(&t)))
            .map(|d| d.val(endian))
            .collect()
    };
    let names = with(&[elf::DT_NEEDED.0 as i32]);
    let paths = with(&[elf::DT_RUNPATH.0 as i32, elf::DT_RPATH.0 as i32]);
    if names.is_empty() && paths.is_empty() {
        return Some(empty());
    }
    // DT_STRTAB is a virtual address: the PT_LOAD segment holding it says where it is.
    let (strtab, strsz) = (tag(elf::DT_STRTAB.0 as i32)?, tag(elf::DT_STRSZ.0 as i32)?);
    let table = phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .find_map(|ph| ph.data_range(endian, bytes, strtab, strsz).ok().flatten())?;
    let string = |at: u64| {
        let name = Bytes(table)
            .read_string_at(usize::try_from(at).ok()?)
            .ok()?;
        Some(String::from_utf8_lossy(name).into_owned())
    };
    let needed = names.into_iter().map(string).collect::<Option<Vec<_>>>()?;
    let mut runpath = Vec::new();
    for at in paths {
        runpath.extend(
            string(at)?
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    Some(Dynamic { needed, runpath })
}

/// The one spelling of each CPU; big-endian and 32-bit ABIs of a 64-bit CPU are not it.
fn cpu(machine: elf::Machine, is_64: bool, endian: Endianness) -> Cpu {
    let big = endian == Endianness::Big;
    match machine {
        elf::EM_X86_64 if !is_64 => Cpu::Named("x32"),
        elf::EM_X86_64 => Cpu::X86_64,
        elf::EM_AARCH64 if !is_64 => Cpu::Named("arm64_32"),
        elf::EM_AARCH64 if big => Cpu::Named("arm64_be"),
        elf::EM_AARCH64 => Cpu::Aarch64,
        elf::EM_386 => Cpu::Named("i386"),
        elf::EM_ARM => Cpu::Named("arm"),
        elf::EM_RISCV if is_64 => Cpu::Named("riscv64"),
        elf::EM_PPC64 => Cpu::Named("ppc64"),
        elf::EM_S390 if is_64 => Cpu::Named("s390x"),
        other => Cpu::Other(other.0.into()),
    }
}
