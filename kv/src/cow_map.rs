//! [`CowMap`]: a hash map whose clone is O(1) in its size, for the state machine's freeze.
//!
//! The entries live in [`SHARDS`] ordinary hash maps, each behind an `Arc`. A clone shares every
//! shard; a write first makes its shard unique (`Arc::make_mut`), copying that shard only if a
//! clone still holds it. So a frozen copy (a snapshot being encoded) never sees later writes,
//! and the writer pays, once per shard and snapshot, a copy of 1/`SHARDS` of the map.
//!
//! Against a persistent HAMT (`imbl`, used before), a lookup here is one hash and one probe of a
//! flat table instead of a walk down several nodes with a uniqueness check at each: the apply
//! path spent about a quarter of all CPU in the HAMT (docs/performance.md, issue 16).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

/// Shards per map: a write after a freeze copies at most 1/`SHARDS` of the map.
pub const SHARDS: usize = 128;

/// Seeded per map (keys come from clients: a fixed hash would invite collisions on purpose).
type Hasher = ahash::RandomState;

type Shard<K, V> = Arc<HashMap<K, V, Hasher>>;

/// A hash map with an O(`SHARDS`) clone that shares all entries until one side writes.
#[derive(Clone)]
pub struct CowMap<K, V> {
    hasher: Hasher,
    shards: Box<[Shard<K, V>]>,
    len: usize,
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        let hasher = Hasher::new();
        let shards = (0..SHARDS)
            .map(|_| Arc::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        CowMap {
            hasher,
            shards,
            len: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The shard of `key`: bits of the hash the shard's own table does not use for its bucket
    /// (low bits) or control byte (top 7 bits).
    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.hasher.hash_one(key) >> 32) as usize % SHARDS
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[self.shard_of(key)].get(key)
    }

    /// The value of `key` to change in place. Makes the key's shard unique only if the key is
    /// there, so a miss never copies a shared shard.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = &mut self.shards[self.shard_of(key)];
        if !shard.contains_key(key) {
            return None;
        }
        Arc::make_mut(shard).get_mut(key)
    }

    /// Inserts `value` at `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.shard_of(&key);
        let old = Arc::make_mut(&mut self.shards[i]).insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FromIterator<(K, V)> for CowMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = CowMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<K: Hash + Eq + Clone + fmt::Debug, V: Clone + fmt::Debug> fmt::Debug for CowMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_clone_keeps_its_entries_while_the_original_changes() {
        let mut m: CowMap<String, u32> = (0..1000).map(|i| (format!("k{i}"), i)).collect();
        let frozen = m.clone();
        for i in 0..1000 {
            *m.get_mut(&format!("k{i}")).unwrap() += 1;
        }
        m.insert("new".into(), 7);
        assert_eq!(frozen.len(), 1000);
        assert_eq!(m.len(), 1001);
        for i in 0..1000 {
            assert_eq!(frozen.get(&format!("k{i}")), Some(&i));
            assert_eq!(m.get(format!("k{i}").as_str()), Some(&(i + 1)));
        }
        assert_eq!(frozen.get("new"), None);
    }

    #[test]
    fn a_miss_does_not_copy_a_shared_shard() {
        let mut m: CowMap<u64, u64> = (0..64).map(|i| (i, i)).collect();
        let frozen = m.clone();
        assert!(m.get_mut(&1000).is_none());
        let shared = m
            .shards
            .iter()
            .zip(frozen.shards.iter())
            .all(|(a, b)| Arc::ptr_eq(a, b));
        assert!(shared, "a lookup of a missing key copied a shard");
    }

    proptest! {
        /// The same operations on a CowMap and a BTreeMap give the same contents, and a clone
        /// taken in the middle keeps exactly the contents of that moment.
        #[test]
        fn behaves_like_a_map_and_clones_are_snapshots(
            ops in proptest::collection::vec((0u16..300, 0u32..5, any::<bool>()), 0..400),
            cut in 0usize..400,
        ) {
            let mut m = CowMap::new();
            let mut model = BTreeMap::new();
            let mut frozen = None;
            for (n, (k, v, overwrite)) in ops.iter().enumerate() {
                if n == cut {
                    frozen = Some((m.clone(), model.clone()));
                }
                if *overwrite {
                    if let Some(x) = m.get_mut(k) {
                        *x += v;
                    }
                    if let Some(x) = model.get_mut(k) {
                        *x += v;
                    }
                } else {
                    prop_assert_eq!(m.insert(*k, *v), model.insert(*k, *v));
                }
            }
            let contents = |m: &CowMap<u16, u32>| m.iter().map(|(k, v)| (*k, *v)).collect::<BTreeMap<_, _>>();
            prop_assert_eq!(m.len(), model.len());
            prop_assert_eq!(contents(&m), model);
            if let Some((f, fm)) = frozen {
                prop_assert_eq!(f.len(), fm.len());
                prop_assert_eq!(contents(&f), fm);
            }
        }
    }
}
