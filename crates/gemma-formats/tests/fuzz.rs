//! Property tests: random corruption of valid files never makes opening panic, and
//! whatever opens keeps every accessor's promises.

mod common;

use common::*;
use gemma_formats::GgufFile;
use proptest::prelude::*;

/// One way to damage a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Overwrite one byte.
    SetByte(usize, u8),
    /// Flip one bit.
    FlipBit(usize, u8),
    /// Overwrite 4 bytes with an interesting u32.
    SetU32(usize, u32),
    /// Overwrite 8 bytes with an interesting u64.
    SetU64(usize, u64),
    /// Cut the file.
    Truncate(usize),
    /// Insert bytes (shifts everything after).
    Insert(usize, Vec<u8>),
    /// Remove a range (shifts everything after).
    Remove(usize, usize),
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(3),
        Just(4),
        Just(5),
        Just(9),
        Just(12),
        Just(13),
        Just(16),
        Just(31),
        Just(32),
        Just(33),
        Just(64),
        Just(255),
        Just(256),
        Just(u32::MAX as u64),
        Just(1 << 32),
        Just(1 << 40),
        Just(1 << 62),
        Just(u64::MAX),
        Just(u64::MAX - 31),
        any::<u64>(),
        0u64..4096,
    ]
}

fn mutation(len: usize) -> impl Strategy<Value = Mutation> {
    let pos = 0..len;
    prop_oneof![
        (pos.clone(), any::<u8>()).prop_map(|(p, b)| Mutation::SetByte(p, b)),
        (pos.clone(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        (pos.clone(), interesting_u64()).prop_map(|(p, v)| Mutation::SetU32(p, v as u32)),
        (pos.clone(), interesting_u64()).prop_map(|(p, v)| Mutation::SetU64(p, v)),
        pos.clone().prop_map(Mutation::Truncate),
        (pos.clone(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (pos, 1usize..16).prop_map(|(p, n)| Mutation::Remove(p, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let put = |bytes: &mut Vec<u8>, p: usize, v: &[u8]| {
        for (i, b) in v.iter().enumerate() {
            if let Some(slot) = bytes.get_mut(p + i) {
                *slot = *b;
            }
        }
    };
    match *m {
        Mutation::SetByte(p, b) => put(bytes, p, &[b]),
        Mutation::FlipBit(p, bit) => {
            if let Some(b) = bytes.get_mut(p) {
                *b ^= 1 << bit;
            }
        }
        Mutation::SetU32(p, v) => put(bytes, p, &v.to_le_bytes()),
        Mutation::SetU64(p, v) => put(bytes, p, &v.to_le_bytes()),
        Mutation::Truncate(p) => bytes.truncate(p),
        Mutation::Insert(p, ref b) => {
            let p = p.min(bytes.len());
            bytes.splice(p..p, b.iter().copied());
        }
        Mutation::Remove(p, n) => {
            let p = p.min(bytes.len());
            let e = (p + n).min(bytes.len());
            bytes.drain(p..e);
        }
    }
}

fn check(bytes: Vec<u8>) {
    match GgufFile::from_bytes(bytes) {
        Ok(f) => exercise(&f),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// The offset where the tensor infos end, so mutations can focus on the header.
fn header_len(bytes: &[u8]) -> usize {
    GgufFile::from_bytes(bytes.to_vec()).unwrap().data_offset() as usize
}

fn py_fixture() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyfixture.gguf"),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_rich_file_never_panics(muts in proptest::collection::vec(mutation(rich_bytes().len()), 1..6)) {
        let mut bytes = rich_bytes();
        for m in &muts {
            apply(&mut bytes, m);
        }
        check(bytes);
    }

    #[test]
    fn mutated_header_never_panics(muts in proptest::collection::vec(mutation(header_len(&rich_bytes())), 1..4)) {
        let mut bytes = rich_bytes();
        for m in &muts {
            apply(&mut bytes, m);
        }
        check(bytes);
    }

    #[test]
    fn mutated_gguf_py_fixture_never_panics(muts in proptest::collection::vec(mutation(header_len(&py_fixture())), 1..4)) {
        let mut bytes = py_fixture();
        for m in &muts {
            apply(&mut bytes, m);
        }
        check(bytes);
    }

    /// Structure-aware: random tensor infos and header fields through the raw builder.
    #[test]
    fn random_tensor_infos_never_panic(
        n_dims in 0u32..7,
        dims in proptest::collection::vec(interesting_u64(), 0..6),
        type_id in prop_oneof![0u32..45, any::<u32>()],
        offset in interesting_u64(),
        alignment_exp in 0u32..8,
        extra in 0usize..300,
    ) {
        let mut raw = RawFile::valid();
        raw.tensors[1].n_dims = n_dims;
        raw.tensors[1].dims = dims;
        raw.tensors[1].type_id = type_id;
        raw.tensors[1].offset = offset;
        raw.kvs[1] = kv("general.alignment", 4, &u32le(1 << alignment_exp));
        raw.alignment = 1 << alignment_exp;
        raw.data.resize(raw.data.len() + extra, 0xAB);
        check(raw.build());
    }
}
