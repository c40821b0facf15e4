//! The hasher for the hot maps (socket cookies, inodes, addresses, group keys). The keys come from the kernel,
//! not from an adversary who could aim collisions at a long-running process, and at 200k sockets per refresh
//! SipHash is a visible cost.

use std::collections::{HashMap, HashSet};

/// foldhash, not our former FxHash-style hasher (13-16% slower on 200k u64 keys and address tuples); fixed seed, so
/// ids derived from it (`socket_id`) stay the same from one refresh to the next.
pub type FastBuild = foldhash::fast::FixedState;
pub type FastHasher = foldhash::fast::FoldHasher<'static>;
pub type FastMap<K, V> = HashMap<K, V, FastBuild>;
pub type FastSet<K> = HashSet<K, FastBuild>;

/// An empty map with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, FastBuild::default())
}

/// The hash of `v` (what `socket_id` and the maps use).
pub fn hash_one<T: std::hash::Hash>(v: T) -> u64 {
    use std::hash::BuildHasher;
    FastBuild::default().hash_one(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keys_spread_over_low_and_high_bits() {
        // hashbrown picks the bucket from the low bits and the control byte from the top 7: a constant or
        // identity-like hash fails one of the two.
        let hashes: Vec<u64> = (0..4096u64).map(hash_one).collect();
        let low: FastSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
        let top: FastSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 2000, "{} distinct low-12-bit buckets of 4096", low.len());
        assert!(top.len() > 100, "{} distinct top-7-bit tags of 128", top.len());
    }

    #[test]
    fn same_key_same_hash_across_builders() {
        assert_eq!(hash_one((1u8, 42u64)), hash_one((1u8, 42u64)));
        assert_ne!(hash_one(b"abc"), hash_one(b"abd"));
    }
}
