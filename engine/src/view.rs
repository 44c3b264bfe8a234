//! What `apply` may read (a point lookup in the `state` column family) and how its writes
//! are collected: an overlay over a read-only view, so a mutation sees its own writes and a
//! rejected mutation leaves nothing behind.

use std::collections::BTreeMap;

/// Read access to the `state` column family.
pub trait StateView {
    /// A failed read is an error, never "absent": apply must not decide on a guess.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct ReadError(pub String);

/// `None` deletes the key.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Pending writes layered over a view.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    writes: Writes,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateView) -> Self {
        Overlay {
            base,
            writes: Writes::new(),
        }
    }
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }
    pub fn into_writes(self) -> Writes {
        self.writes
    }
}

impl StateView for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }
}

/// An in-memory `state` for tests and for batching: a sorted map, like RocksDB.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct MemState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl MemState {
    pub fn apply_writes(&mut self, writes: Writes) {
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.0.insert(k, v);
                }
                None => {
                    self.0.remove(&k);
                }
            }
        }
    }
    /// Keys and values under `prefix`, in key order.
    pub fn scan<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> {
        self.0
            .range(prefix.to_vec()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
    }
}

impl StateView for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.0.get(key).cloned())
    }
}
