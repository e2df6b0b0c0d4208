//! SHA-256 as FIPS 180-4 specifies it (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3 and 6.2), for
//! the xtask's digests: staged binaries, `SHA256SUMS`, vendored downloads, fingerprints.
//!
//! A crate of its own, without dependencies, so the workspace can compile it at
//! `opt-level = 3` in dev builds (hashing hundreds of MB at opt-level 0 is slow) while
//! the `sha2` crate's tree (digest, generic-array, typenum, ...) stays out of the
//! xtask's cold build.

/// The round constants: the first 32 bits of the fractional parts of the cube roots of
/// the first 64 primes (FIPS 180-4, 4.2.2; `tests::constants_follow_from_the_primes`).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The initial hash value: the first 32 bits of the fractional parts of the square
/// roots of the first 8 primes (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const BLOCK: usize = 64;

/// An incremental SHA-256: feed it with [`Sha256::update`] in pieces of any size, then
/// [`Sha256::finalize`].
#[derive(Clone, Debug)]
pub struct Sha256 {
    state: [u32; 8],
    /// The start of a block not yet compressed; `buffered` bytes of it are valid.
    block: [u8; BLOCK],
    buffered: usize,
    /// Message length in bytes so far.
    len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub fn new() -> Self {
        Sha256 {
            state: H0,
            block: [0; BLOCK],
            buffered: 0,
            len: 0,
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.buffered > 0 {
            let take = bytes.len().min(BLOCK - self.buffered);
            self.block[self.buffered..self.buffered + take].copy_from_slice(&bytes[..take]);
            self.buffered += take;
            bytes = &bytes[take..];
            if self.buffered < BLOCK {
                return;
            }
            compress(&mut self.state, &self.block);
            self.buffered = 0;
        }
        let mut blocks = bytes.chunks_exact(BLOCK);
        for block in &mut blocks {
            compress(&mut self.state, block.try_into().expect("chunks_exact(64)"));
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The digest. Padding (FIPS 180-4, 5.1.1): a 1 bit, zeros up to 56 bytes mod 64,
    /// then the message length in bits as a big-endian 64-bit number.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = [0u8; 2 * BLOCK];
        pad[0] = 0x80;
        let zeros = (BLOCK + 56 - 1 - self.buffered) % BLOCK;
        let end = 1 + zeros + 8;
        pad[1 + zeros..end].copy_from_slice(&bits.to_be_bytes());
        self.update(&pad[..end]);
        debug_assert_eq!(self.buffered, 0);
        let mut out = [0u8; 32];
        for (word, bytes) in self.state.iter().zip(out.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// SHA-256 of `bytes` in one call.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(bytes);
    h.finalize()
}

/// One block of the hash computation (FIPS 180-4, 6.2.2) with the functions of 4.1.2.
/// Written for speed: the message schedule is a ring of 16 words computed as the rounds
/// need it, and the rounds are unrolled sixteen at a time with the working variables
/// renamed instead of moved.
#[inline(always)]
fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes(bytes.try_into().expect("chunks_exact(4)"));
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    // Round t = `$base + $i`. Past the first 16 rounds, ring slot `$i` holds W[t-16]
    // and becomes W[t] from W[t-15], W[t-7] and W[t-2] in slots `$i` + 1, 9 and 14. The caller passes the eight variables rotated by one each round,
    // so `d` and `h` are the only ones written (6.2.2 step 3's shuffle, without moves).
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident,
         $base:expr, $i:expr) => {
            if $base > 0 {
                let w15 = w[($i + 1) & 15];
                let w2 = w[($i + 14) & 15];
                let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
                let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
                w[$i] = w[$i]
                    .wrapping_add(s0)
                    .wrapping_add(w[($i + 9) & 15])
                    .wrapping_add(s1);
            }
            let t1 = $h
                .wrapping_add($e.rotate_right(6) ^ $e.rotate_right(11) ^ $e.rotate_right(25))
                .wrapping_add($g ^ ($e & ($f ^ $g)))
                .wrapping_add(K[$base + $i])
                .wrapping_add(w[$i]);
            let t2 = ($a.rotate_right(2) ^ $a.rotate_right(13) ^ $a.rotate_right(22))
                .wrapping_add(($a & $b) | ($c & ($a | $b)));
            $d = $d.wrapping_add(t1);
            $h = t1.wrapping_add(t2);
        };
    }
    for base in [0, 16, 32, 48] {
        round!(a, b, c, d, e, f, g, h, base, 0);
        round!(h, a, b, c, d, e, f, g, base, 1);
        round!(g, h, a, b, c, d, e, f, base, 2);
        round!(f, g, h, a, b, c, d, e, base, 3);
        round!(e, f, g, h, a, b, c, d, base, 4);
        round!(d, e, f, g, h, a, b, c, base, 5);
        round!(c, d, e, f, g, h, a, b, base, 6);
        round!(b, c, d, e, f, g, h, a, base, 7);
        round!(a, b, c, d, e, f, g, h, base, 8);
        round!(h, a, b, c, d, e, f, g, base, 9);
        round!(g, h, a, b, c, d, e, f, base, 10);
        round!(f, g, h, a, b, c, d, e, base, 11);
        round!(e, f, g, h, a, b, c, d, base, 12);
        round!(d, e, f, g, h, a, b, c, base, 13);
        round!(c, d, e, f, g, h, a, b, base, 14);
        round!(b, c, d, e, f, g, h, a, base, 15);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests;
