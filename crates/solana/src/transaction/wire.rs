//! Solana's compact-u16 ("shortvec") length prefix: 7 bits a byte, low bits first, the high
//! bit set on every byte but the last; lengths in a transaction fit in three bytes.

/// Appends `len` as a compact-u16. Callers keep lengths within a transaction's 1,232 bytes;
/// a larger one is written in its low 16 bits' encoding (and the size check refuses it).
pub(super) fn push_compact_u16(out: &mut Vec<u8>, len: usize) {
    let mut rest = len & 0xffff;
    loop {
        let low = (rest & 0x7f).to_le_bytes()[0];
        rest >>= 7;
        if rest == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// The number of bytes `push_compact_u16` writes for `len`.
pub(super) fn compact_len(len: usize) -> usize {
    match len & 0xffff {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        _ => 3,
    }
}

/// Reads a compact-u16 at the start of `bytes`: its value and the bytes it took, or `None`
/// when it is cut short or longer than three bytes.
pub(super) fn read_compact_u16(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (at, byte) in bytes.iter().take(3).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return Some((value, at + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_u16_matches_solanas_examples() {
        let cases: [(usize, &[u8]); 7] = [
            (0, &[0x00]),
            (0x7f, &[0x7f]),
            (0x80, &[0x80, 0x01]),
            (0xff, &[0xff, 0x01]),
            (0x100, &[0x80, 0x02]),
            (0x3fff, &[0xff, 0x7f]),
            (0xffff, &[0xff, 0xff, 0x03]),
        ];
        for (len, bytes) in cases {
            let mut out = Vec::new();
            push_compact_u16(&mut out, len);
            assert_eq!(out, bytes, "{len}");
            assert_eq!(compact_len(len), bytes.len(), "{len}");
            assert_eq!(read_compact_u16(bytes), Some((len, bytes.len())), "{len}");
        }
    }

    #[test]
    fn a_cut_compact_u16_is_refused() {
        assert_eq!(read_compact_u16(&[]), None);
        assert_eq!(read_compact_u16(&[0x80]), None);
        assert_eq!(read_compact_u16(&[0x80, 0x80, 0x80, 0x01]), None);
    }
}
