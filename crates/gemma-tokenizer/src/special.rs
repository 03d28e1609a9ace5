//! Special-token partitioning: splits raw text into text fragments and whole special tokens
//! before SentencePiece runs, with the result of llama.cpp's `tokenizer_st_partition`.
//!
//! llama.cpp takes the special tokens (control, user-defined and unknown ones) longest first
//! and, for each in turn, cuts every leftmost non-overlapping occurrence out of the text that
//! earlier tokens left uncut. Control and unknown tokens are skipped unless `parse_special`;
//! user-defined ones are always matched. Done literally that costs
//! O(special tokens × text length); here every occurrence of every special token is found in
//! one pass over a byte trie, and the occurrences are then claimed in that same order
//! (token rank, then position), which yields the same cuts.

use crate::vocab::{attr, Model};

/// A piece of the partitioned input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment {
    /// Raw text, the byte range `start..end` of the input.
    Text(usize, usize),
    /// A special token matched whole.
    Token(u32),
}

/// No node / no token.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    /// Children, sorted by byte.
    children: Vec<(u8, u32)>,
    /// Rank of the special token ending here, or `NONE`.
    rank: u32,
}

/// Per-rank data of a special token.
#[derive(Debug, Clone, Copy)]
struct Special {
    id: u32,
    len: u32,
    /// Matched even when `parse_special` is false (user-defined, not control/unknown).
    plain: bool,
    lstrip: bool,
    rstrip: bool,
}

/// Finds special tokens in raw text.
#[derive(Debug, Clone)]
pub(crate) struct SpecialMatcher {
    /// Node of each first byte (`NONE` when no special token starts with it).
    root: Vec<u32>,
    nodes: Vec<Node>,
    /// Special tokens by rank: longest first, ties by id.
    ranked: Vec<Special>,
}

/// Per-byte state while claiming occurrences.
const FREE: u8 = 0;
const TAKEN: u8 = 1;
const STRIPPED: u8 = 2;

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl SpecialMatcher {
    /// Collects the special tokens of `model` and builds the trie.
    pub(crate) fn new(model: &Model) -> SpecialMatcher {
        let special_mask = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut ids: Vec<u32> = (0..model.tokens.len() as u32)
            .filter(|&id| model.attrs[id as usize] & special_mask != 0)
            .collect();
        // llama.cpp sorts by length, longest first (its std::sort is not stable; equal
        // lengths only matter when two such tokens overlap in the text, which cannot happen
        // with Gemma's `<...>`, `[...]` and whitespace-run tokens).
        ids.sort_by_key(|&id| std::cmp::Reverse(model.tokens[id as usize].len()));
        let ranked: Vec<Special> = ids
            .iter()
            .map(|&id| {
                let a = model.attrs[id as usize];
                Special {
                    id,
                    len: model.tokens[id as usize].len() as u32,
                    plain: a & (attr::CONTROL | attr::UNKNOWN) == 0,
                    lstrip: a & attr::LSTRIP != 0,
                    rstrip: a & attr::RSTRIP != 0,
                }
            })
            .collect();
        let mut m = SpecialMatcher {
            root: vec![NONE; 256],
            nodes: Vec::new(),
            ranked,
        };
        for rank in 0..m.ranked.len() {
            let text = model.tokens[m.ranked[rank].id as usize].as_bytes();
            m.insert(text, rank as u32);
        }
        m
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node {
            children: Vec::new(),
            rank: NONE,
        });
        (self.nodes.len() - 1) as u32
    }

    fn insert(&mut self, text: &[u8], rank: u32) {
        let Some((&first, rest)) = text.split_first() else {
            return;
        };
        let mut node = self.root[first as usize];
        if node == NONE {
            node = self.new_node();
            self.root[first as usize] = node;
        }
        for &b in rest {
            let children = &self.nodes[node as usize].children;
            node = match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => children[i].1,
                Err(i) => {
                    let child = self.new_node();
                    self.nodes[node as usize].children.insert(i, (b, child));
                    child
                }
            };
        }
        self.nodes[node as usize].rank = rank;
    }

    /// Calls `f(rank, start)` for every occurrence of an eligible special token in `text`,
    /// in increasing `start` order.
    fn for_each_occurrence(&self, text: &[u8], parse_special: bool, mut f: impl FnMut(u32, u32)) {
        for start in 0..text.len() {
            let mut node = self.root[text[start] as usize];
            let mut pos = start + 1;
            while node != NONE {
                let n = &self.nodes[node as usize];
                if n.rank != NONE && (parse_special || self.ranked[n.rank as usize].plain) {
                    f(n.rank, start as u32);
                }
                let Some(&b) = text.get(pos) else { break };
                node = match n.children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => n.children[i].1,
                    Err(_) => NONE,
                };
                pos += 1;
            }
        }
    }

    /// Every occurrence of an eligible special token, bucketed by rank (a counting sort):
    /// `starts[offsets[r]..offsets[r + 1]]` are the ascending start positions of rank `r`.
    /// Memory is 4 bytes per occurrence; occurrences per byte are bounded by the number of
    /// special tokens that are prefixes of one another (31 for Gemma's whitespace runs).
    fn occurrences(&self, text: &[u8], parse_special: bool) -> (Vec<u32>, Vec<u32>) {
        let mut offsets = vec![0u32; self.ranked.len() + 1];
        let mut total = 0u32;
        self.for_each_occurrence(text, parse_special, |rank, _| {
            offsets[rank as usize + 1] += 1;
            total += 1;
        });
        if total == 0 {
            return (offsets, Vec::new());
        }
        for r in 0..self.ranked.len() {
            offsets[r + 1] += offsets[r];
        }
        let mut fill = offsets.clone();
        let mut starts = vec![0u32; total as usize];
        self.for_each_occurrence(text, parse_special, |rank, start| {
            let slot = &mut fill[rank as usize];
            starts[*slot as usize] = start;
            *slot += 1;
        });
        (offsets, starts)
    }

    /// Splits `text` into raw-text fragments and special tokens, appending to `out`.
    pub(crate) fn partition(&self, text: &[u8], parse_special: bool, out: &mut Vec<Fragment>) {
        if text.is_empty() {
            return;
        }
        let (offsets, starts) = self.occurrences(text, parse_special);
        if starts.is_empty() {
            out.push(Fragment::Text(0, text.len()));
            return;
        }

        let mut state = vec![FREE; text.len()];
        // (start, rank) of each claimed token.
        let mut claimed: Vec<(usize, u32)> = Vec::new();
        let by_rank = (0..self.ranked.len() as u32).flat_map(|rank| {
            let bucket =
                &starts[offsets[rank as usize] as usize..offsets[rank as usize + 1] as usize];
            bucket.iter().map(move |&start| (rank, start))
        });
        for (rank, start) in by_rank {
            let sp = self.ranked[rank as usize];
            let (start, end) = (start as usize, start as usize + sp.len as usize);
            if state[start..end].iter().any(|&s| s != FREE) {
                continue;
            }
            state[start..end].fill(TAKEN);
            claimed.push((start, rank));
            if sp.lstrip {
                let mut i = start;
                while i > 0 && state[i - 1] == FREE && is_c_space(text[i - 1]) {
                    state[i - 1] = STRIPPED;
                    i -= 1;
                }
            }
            if sp.rstrip {
                let mut i = end;
                while i < text.len() && state[i] == FREE && is_c_space(text[i]) {
                    state[i] = STRIPPED;
                    i += 1;
                }
            }
        }
        claimed.sort_unstable();

        // Emit maximal free runs as text and claimed tokens in order.
        let mut next_claim = claimed.iter().peekable();
        let mut i = 0;
        while i < text.len() {
            match state[i] {
                FREE => {
                    let run_end = state[i..]
                        .iter()
                        .position(|&s| s != FREE)
                        .map_or(text.len(), |k| i + k);
                    out.push(Fragment::Text(i, run_end));
                    i = run_end;
                }
                TAKEN => {
                    // Claimed tokens do not overlap, so the next claim starts here.
                    let Some(&(start, rank)) = next_claim.next() else {
                        break;
                    };
                    debug_assert_eq!(start, i);
                    let sp = self.ranked[rank as usize];
                    out.push(Fragment::Token(sp.id));
                    i = start + sp.len as usize;
                }
                _ => i += 1,
            }
        }
    }
}
