//! JSON text written by hand into a byte buffer, byte for byte as `serde_json` writes it, for the one body the
//! service renders on every listing miss (see `dto::render_page_with`). A string is checked eight bytes at a
//! time for the few bytes JSON escapes and, having none (the usual case), copied whole; tests hold every escape
//! to `serde_json`'s.

/// `value` as a JSON string: quoted, with `"`, `\` and the control characters below U+0020 escaped exactly as
/// `serde_json` escapes them (`\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, otherwise `\u00XX` in lowercase hex).
/// Everything else, non-ASCII and U+007F included, is written as it is.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_escape(bytes) {
        let mut written = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            let short = match byte {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x09 => b't',
                0x0A => b'n',
                0x0C => b'f',
                0x0D => b'r',
                0x00..=0x1F => 0, // no short form: `\u00XX`
                _ => continue,
            };
            out.extend_from_slice(&bytes[written..at]);
            if short == 0 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]]);
            } else {
                out.extend_from_slice(&[b'\\', short]);
            }
            written = at + 1;
        }
        out.extend_from_slice(&bytes[written..]);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// `value` as a JSON number.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Whether any byte of `bytes` is one JSON escapes, eight at a time (the last word padded with a plain byte).
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut found = 0;
    for word in &mut words {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        found |= special(u64::from_le_bytes(eight));
    }
    let mut last = [b' '; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    found |= special(u64::from_le_bytes(last));
    found != 0
}

/// Not zero when some byte of `word` is below 0x20, `"` or `\`. Each test is exact as a whole (a borrow
/// reaches the next byte only from a byte that was itself below the bound), though not per byte.
fn special(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, bound: u64| word.wrapping_sub(ONES * bound) & !word & HIGH;
    below(word, 0x20) | below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(value: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, value);
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    fn serde(value: &str) -> String {
        serde_json::to_string(value).expect("a string serialises")
    }

    #[test]
    fn every_ascii_character_is_written_as_serde_json_writes_it() {
        for byte in 0u8..=0x7F {
            let alone = char::from(byte).to_string();
            assert_eq!(ours(&alone), serde(&alone), "U+{byte:04X}");
            // At the ends of a word of eight, in the middle and in the padded last word.
            for at in [0, 1, 7, 8, 9, 15, 16, 17, 40, 44] {
                let text: String = (0..45).map(|i| if i == at { char::from(byte) } else { 'a' }).collect();
                assert_eq!(ours(&text), serde(&text), "U+{byte:04X} at {at}");
            }
        }
    }

    #[test]
    fn mixed_text_of_every_length_is_written_as_serde_json_writes_it() {
        let pool = ['a', 'Z', '"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', 'ट', '\u{2028}', '🐄', ' ', '/'];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..80 {
            for _ in 0..20 {
                let text: String = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        pool[usize::try_from(state % pool.len() as u64).unwrap_or(0)]
                    })
                    .collect();
                assert_eq!(ours(&text), serde(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for value in [0, 7, 65_000, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, value);
            assert_eq!(out, serde_json::to_vec(&value).expect("a number serialises"));
        }
    }
}
