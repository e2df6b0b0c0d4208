//! A Mach-O code signature checked the way macOS checks it when it pages code in: the
//! kernel picks the code directory with the strongest hash it knows, every byte before
//! the signature must lie under that directory's code limit, and each page must hash to
//! its slot. A binary patched after signing (strip, install_name_tool, a byte edited)
//! fails here instead of being killed on the user's Mac with "Code Signature Invalid".
//!
//! object parses the super blob and code directories (big-endian, whatever the file's
//! byte order); this module only decides.

use object::macho::{self, LinkeditDataCommand};
use object::read::macho::CodeDirectory;
use object::{BigEndian, Endianness};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

use super::{problem, Problem};

/// The problems of the signature `cmd` points at in `data` (one thin Mach-O); none when
/// macOS would accept every page.
pub(super) fn verify(
    data: &[u8],
    e: Endianness,
    cmd: &LinkeditDataCommand<Endianness>,
) -> Vec<Problem> {
    let unreadable = |why: String| {
        let expected = "a readable code signature (a super blob holding a code directory)";
        vec![problem("code signature", expected, why)]
    };
    let signature = match cmd.code_signature(e, data) {
        Ok(s) => s,
        Err(err) => return unreadable(err.to_string()),
    };
    let mut best: Option<(u8, CodeDirectory<'_>)> = None;
    for blob in signature.blobs() {
        let blob = match blob {
            Ok(b) => b,
            Err(err) => return unreadable(err.to_string()),
        };
        let slot = blob.slot();
        if slot != macho::CSSLOT_CODEDIRECTORY && !slot.is_alternate_codedirectory() {
            continue;
        }
        let cd = match blob.code_directory() {
            Ok(Some(cd)) => cd,
            Ok(None) => continue,
            Err(err) => return unreadable(err.to_string()),
        };
        let Some(rank) = Hash::of(&cd).map(Hash::rank) else {
            continue;
        };
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, cd));
        }
    }
    let Some((_, cd)) = best else {
        return unreadable("no code directory with a hash type macOS knows".into());
    };
    let mut out = Vec::new();
    let dataoff = u64::from(cmd.dataoff.get(e));
    let limit = cd.code_limit();
    if limit < dataoff {
        out.push(problem(
            "code signature covers the file",
            format!("a code limit of {dataoff} (every byte before the signature)"),
            format!("{limit} (bytes {limit:#x}..{dataoff:#x} are unsigned)"),
        ));
    }
    out.extend(page_hashes(data, &cd, limit));
    out
}

/// Each page up to the code limit against its slot; one problem naming the first page
/// that differs (and how many others do).
fn page_hashes(data: &[u8], cd: &CodeDirectory<'_>, limit: u64) -> Option<Problem> {
    let header = cd.header();
    let hash = Hash::of(cd)?;
    // log2 of the page size; 0 means one page holding everything.
    let page = match header.page_size {
        0 => limit.max(1),
        p @ 1..=31 => 1u64 << p,
        p => {
            let expected = "a page size of at most 2^31";
            return Some(problem("page hash", expected, format!("2^{p}")));
        }
    };
    let pages = limit.div_ceil(page);
    let slots = u64::from(header.n_code_slots.get(BigEndian));
    if slots < pages {
        let expected = format!("{pages} page hashes (one per {page}-byte page up to {limit})");
        return Some(problem("page hash", expected, slots.to_string()));
    }
    let mut differ = Vec::new();
    for i in 0..pages {
        let (start, end) = (i * page, ((i + 1) * page).min(limit));
        let want = u32::try_from(i).ok().and_then(|i| cd.code_hash(i).ok());
        let bytes = data.get(start as usize..end as usize);
        let (Some(want), Some(bytes)) = (want, bytes) else {
            let expected = format!("page {i} (bytes {start:#x}..{end:#x}) and its hash");
            return Some(problem("page hash", expected, "past the end of the file"));
        };
        let have = hash.digest(bytes);
        if have.get(..want.len()) != Some(want) {
            differ.push((
                i,
                start,
                end,
                hex(want),
                hex(&have[..want.len().min(have.len())]),
            ));
        }
    }
    let (i, start, end, want, have) = differ.first()?.clone();
    let more = match differ.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more pages differ)"),
    };
    Some(problem(
        "page hash",
        format!(
            "page {i} (bytes {start:#x}..{end:#x}) to hash to {want} ({})",
            hash.name()
        ),
        format!("{have}{more}: the file changed after it was signed"),
    ))
}

/// The hash types macOS validates pages with.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha256Truncated,
    Sha384,
}

impl Hash {
    fn of(cd: &CodeDirectory<'_>) -> Option<Hash> {
        Some(match cd.header().hash_type {
            macho::CS_HASHTYPE_SHA1 => Hash::Sha1,
            macho::CS_HASHTYPE_SHA256 => Hash::Sha256,
            macho::CS_HASHTYPE_SHA256_TRUNCATED => Hash::Sha256Truncated,
            macho::CS_HASHTYPE_SHA384 => Hash::Sha384,
            _ => return None,
        })
    }

    /// xnu's preference among code directories (`hashPriorities` in ubc_subr.c).
    fn rank(self) -> u8 {
        match self {
            Hash::Sha1 => 1,
            Hash::Sha256Truncated => 2,
            Hash::Sha256 => 3,
            Hash::Sha384 => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha256Truncated => "truncated SHA-256",
            Hash::Sha384 => "SHA-384",
        }
    }

    /// The full digest; a truncated type compares its first `hash_size` bytes.
    fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(bytes).to_vec(),
            Hash::Sha256 | Hash::Sha256Truncated => Sha256::digest(bytes).to_vec(),
            Hash::Sha384 => Sha384::digest(bytes).to_vec(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
