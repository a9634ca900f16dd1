//! Lowercase hex, the only case `acttrace-chain/1` writes hashes and signatures in: encoding,
//! decoding and checking, with allocation-free forms for the 64-digit fields every log line
//! carries three of.

/// A 32-byte digest as 64 lowercase hex digits, the form hashes and signatures take in a log.
pub(crate) type Hex64 = [u8; 64];

/// Lowercase hex of a 32-byte digest, without allocating. Four bytes become eight digits in
/// one 64-bit word (two per entry sealed and per entry verified).
pub(crate) fn hex64(digest: &[u8; 32]) -> Hex64 {
    const LOW_NIBBLES: u64 = 0x000F_000F_000F_000F;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut out = [0u8; 64];
    for (digits, bytes) in out.chunks_exact_mut(8).zip(digest.chunks_exact(4)) {
        let x = u64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        // Each byte into its own 16-bit lane, then its high nibble into the lane's high byte:
        // eight nibbles, one per byte, in output order.
        let x = (x | x << 16) & 0x0000_FFFF_0000_FFFF;
        let x = (x | x << 8) & 0x00FF_00FF_00FF_00FF;
        let x = (x << 4 & (LOW_NIBBLES << 8)) | (x & LOW_NIBBLES);
        // '0' + n, plus the gap from '9' + 1 to 'a' where n > 9.
        let above_nine = ((x + 6 * ONES) >> 4) & ONES;
        let ascii = x + u64::from(b'0') * ONES + above_nine * u64::from(b'a' - b'0' - 10);
        digits.copy_from_slice(&ascii.to_be_bytes());
    }
    out
}

/// A hash already checked to be 64 lowercase hex digits (see [`is_hash_hex`]), inline.
pub(crate) fn hex64_from_checked(checked: &str) -> Hex64 {
    let mut out = [0u8; 64];
    out.copy_from_slice(checked.as_bytes());
    out
}

/// A [`Hex64`] as text (its bytes are ASCII hex digits by construction).
pub(crate) fn hex_str(h: &Hex64) -> &str {
    std::str::from_utf8(h).unwrap_or_default()
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The value of each lowercase hex digit; [`NOT_HEX`] for every other byte. A table, so that
/// checking and decoding the three 64-digit fields of every log line has no branch per digit.
const NIBBLE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0x10;

/// Decodes 64 lowercase hex digits into 32 bytes; `None` for anything else.
pub(crate) fn from_hex64(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut flags = 0u8;
    for (b, p) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[p[0] as usize], NIBBLE[p[1] as usize]);
        flags |= hi | lo;
        *b = hi << 4 | (lo & 0xf);
    }
    (flags & NOT_HEX == 0).then_some(out)
}

/// Decodes lowercase hex (the only case the format writes). `None` for anything else.
pub(crate) fn from_lower_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Whether `s` is a 64-digit lowercase hex hash.
pub(crate) fn is_hash_hex(s: &str) -> bool {
    // No early exit and no table, so that the compiler checks many digits per instruction:
    // every line of a log has three of these fields.
    s.len() == 64
        && s.bytes().fold(true, |ok, c| {
            ok & (c.wrapping_sub(b'0') < 10 || c.wrapping_sub(b'a') < 6)
        })
}

/// [`is_hash_hex`] of 64 bytes not yet known to be text.
pub(crate) fn is_hash_hex_bytes(s: &[u8; 64]) -> bool {
    s.iter().fold(true, |ok, &c| {
        ok & (c.wrapping_sub(b'0') < 10 || c.wrapping_sub(b'a') < 6)
    })
}

/// Whether `hex`, 64 lowercase hex digits (checked by the caller, see [`is_hash_hex_bytes`]),
/// spells `digest`. Decodes eight digits per 64-bit word and compares, rather than encoding
/// `digest` with [`hex64`] and comparing 64 bytes: the verifier does this for every entry.
/// For bytes other than lowercase hex digits the answer means nothing.
pub(crate) fn checked_hex64_is(hex: &[u8; 64], digest: &[u8; 32]) -> bool {
    const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut diff = 0u32;
    for (digits, bytes) in hex.chunks_exact(8).zip(digest.chunks_exact(4)) {
        let w = u64::from_le_bytes([
            digits[0], digits[1], digits[2], digits[3], digits[4], digits[5], digits[6], digits[7],
        ]);
        // `0`-`9` are 0x30-0x39 and `a`-`f` 0x61-0x66: a digit's value is its low nibble,
        // plus 9 when its bit 6 is set. One value per byte, the first digit lowest.
        let n = (w & LOW_NIBBLES) + ((w >> 6) & ONES) * 9;
        // Each even byte: its digit's value times 16 plus the next one's.
        let x = ((n << 4) | (n >> 8)) & 0x00FF_00FF_00FF_00FF;
        let x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF;
        let x = (x | x >> 16) as u32;
        diff |= x ^ u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex64_is_lowercase_hex() {
        let mut d = [0u8; 32];
        for round in 0..=255u8 {
            for (i, b) in d.iter_mut().enumerate() {
                *b = round.wrapping_mul(31).wrapping_add(i as u8 * 8);
            }
            assert_eq!(hex_str(&hex64(&d)), to_hex(&d));
        }
    }

    #[test]
    fn decoding_takes_lowercase_hex_only() {
        let d: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let h = hex64(&d);
        assert!(is_hash_hex(hex_str(&h)));
        assert_eq!(from_hex64(&h), Some(d));
        assert_eq!(from_lower_hex(hex_str(&h)), Some(d.to_vec()));
        let upper = hex_str(&h).to_uppercase();
        assert!(!is_hash_hex(&upper));
        assert_eq!(from_hex64(upper.as_bytes()), None);
        assert_eq!(from_lower_hex(&upper), None);
        assert_eq!(from_hex64(&h[..62]), None);
        assert_eq!(from_lower_hex("abc"), None);
        assert_eq!(from_lower_hex("0g"), None);
    }

    #[test]
    fn checked_hex_is_compared_with_the_digest_it_spells() {
        for round in 0..=255u8 {
            let d: [u8; 32] = std::array::from_fn(|i| {
                round
                    .wrapping_mul(97)
                    .wrapping_add((i as u8).wrapping_mul(29))
            });
            let h = hex64(&d);
            assert!(is_hash_hex_bytes(&h));
            assert!(checked_hex64_is(&h, &d));
            // Every digit changed to every other digit is a different digest.
            for i in 0..64 {
                for other in b"0123456789abcdef" {
                    let mut changed = h;
                    changed[i] = *other;
                    assert_eq!(
                        checked_hex64_is(&changed, &d),
                        *other == h[i],
                        "{i} {other}"
                    );
                }
            }
        }
        let mut upper = hex64(&[0xab; 32]);
        upper[5] = b'B';
        assert!(!is_hash_hex_bytes(&upper));
        assert!(!is_hash_hex_bytes(&[b'g'; 64]));
    }
}
