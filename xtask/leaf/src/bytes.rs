//! Bounds-checked, endian-aware reads of the fixed-width fields in executable headers: the
//! one reader behind `binfmt` (which format and CPU) and `loadable` (will it load). A
//! field that is not wholly inside the bytes reads as `None`, never a panic; each caller
//! turns that into its own error naming the field. ELF, Mach-O and PE headers are a few
//! dozen fixed offsets, which is why this is all they need.
//!
//! A leaf: nothing from the crate.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    endian: Endian,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], endian: Endian) -> Self {
        Reader { bytes, endian }
    }

    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// All the bytes this reader reads from.
    pub fn data(&self) -> &'a [u8] {
        self.bytes
    }

    /// `len` bytes from `offset`. An empty range reads as empty wherever it starts: a
    /// zero-size segment, slice or table has no bytes that could be missing.
    pub fn bytes(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let start = usize::try_from(offset).ok()?;
        let len = usize::try_from(len).ok()?;
        self.bytes.get(start..)?.get(..len)
    }

    /// [`Reader::bytes`] as a reader in the same byte order, for a table or a command
    /// whose fields are read relative to its own start.
    pub fn slice(&self, offset: u64, len: u64) -> Option<Reader<'a>> {
        Some(Reader::new(self.bytes(offset, len)?, self.endian))
    }

    /// The NUL-terminated string starting at `offset`, without its NUL; `None` if no NUL
    /// follows within the bytes.
    pub fn c_str(&self, offset: u64) -> Option<&'a [u8]> {
        let tail = self.bytes.get(usize::try_from(offset).ok()?..)?;
        Some(&tail[..tail.iter().position(|&b| b == 0)?])
    }

    pub fn array<const N: usize>(&self, offset: u64) -> Option<[u8; N]> {
        self.bytes(offset, N as u64)?.try_into().ok()
    }

    pub fn u16(&self, offset: u64) -> Option<u16> {
        let b = self.array(offset)?;
        Some(match self.endian {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    pub fn u32(&self, offset: u64) -> Option<u32> {
        let b = self.array(offset)?;
        Some(match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    pub fn u64(&self, offset: u64) -> Option<u64> {
        let b = self.array(offset)?;
        Some(match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_in_either_order_and_none_past_the_end() {
        let data = [1, 2, 3, 4, 5, 6, 7, 8, b'h', b'i', 0];
        let (le, be) = (
            Reader::new(&data, Endian::Little),
            Reader::new(&data, Endian::Big),
        );
        assert_eq!((le.u16(0), be.u16(0)), (Some(0x0201), Some(0x0102)));
        assert_eq!(
            (le.u32(4), be.u32(4)),
            (Some(0x0807_0605), Some(0x0506_0708))
        );
        assert_eq!(be.u64(0), Some(0x0102_0304_0506_0708));
        assert_eq!(le.u64(4), None);
        assert_eq!(le.u32(u64::MAX), None);
        assert_eq!(le.u16(10), None);
        assert_eq!(le.c_str(8), Some(&b"hi"[..]));
        assert_eq!(le.c_str(10), Some(&b""[..]));
        assert_eq!(le.c_str(11), None);
        assert_eq!(le.slice(0, 8).unwrap().c_str(0), None);
        assert_eq!(le.bytes(u64::MAX, 0), Some(&[][..]));
        assert_eq!(le.bytes(u64::MAX, 1), None);
        assert_eq!(le.bytes(10, u64::MAX), None);
    }
}
