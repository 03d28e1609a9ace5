//! Text → token id lookup: an open-addressing hash table of ids that compares against the
//! token texts it indexes, so building it for ~262k tokens allocates one `Vec<u32>` only.

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// A fast, non-cryptographic hash of a byte string (FxHash-style, 8 bytes at a time).
fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    // Final avalanche so that the low bits used for the slot index depend on every byte.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Maps token text to token id. The texts themselves live in the caller's `tokens` vector,
/// which must be passed unchanged to every call.
#[derive(Debug, Clone)]
pub(crate) struct TokenMap {
    slots: Vec<u32>,
    mask: usize,
}

impl TokenMap {
    /// Indexes `tokens`. On two equal texts, returns `Err((first_id, second_id))`.
    pub(crate) fn build(tokens: &[String]) -> Result<TokenMap, (u32, u32)> {
        let cap = (tokens.len() * 2).next_power_of_two().max(16);
        let mut map = TokenMap {
            slots: vec![EMPTY; cap],
            mask: cap - 1,
        };
        for (id, t) in tokens.iter().enumerate() {
            let id = id as u32;
            let mut i = hash_bytes(t.as_bytes()) as usize & map.mask;
            loop {
                let s = map.slots[i];
                if s == EMPTY {
                    map.slots[i] = id;
                    break;
                }
                if tokens[s as usize] == *t {
                    return Err((s, id));
                }
                i = (i + 1) & map.mask;
            }
        }
        Ok(map)
    }

    /// The id of the token whose text is exactly `text`.
    #[inline]
    pub(crate) fn get(&self, tokens: &[String], text: &[u8]) -> Option<u32> {
        let mut i = hash_bytes(text) as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if tokens[s as usize].as_bytes() == text {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_token_and_nothing_else() {
        let tokens: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
        let map = TokenMap::build(&tokens).unwrap();
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(map.get(&tokens, t.as_bytes()), Some(i as u32));
        }
        assert_eq!(map.get(&tokens, b"t5000"), None);
        assert_eq!(map.get(&tokens, b""), None);
    }

    #[test]
    fn reports_duplicates() {
        let tokens: Vec<String> = ["a", "b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(TokenMap::build(&tokens).unwrap_err(), (0, 2));
    }
}
