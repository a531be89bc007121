//! Checking client histories for linearizability with stateright's `LinearizabilityTester`
//! against [`KvSpec`], the sequential specification of the service.
//!
//! The history is split by key before checking. Linearizability is local (Herlihy & Wing): a
//! history is linearizable iff its restriction to each object is, and each key is an
//! independent object of a key/value map. Splitting keeps every search small; one tester over
//! all keys would have to interleave unrelated operations.

use std::collections::BTreeMap;

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use crate::command::{Op, OpResult};

/// The sequential key/value map: what every history must be explainable by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvSpec {
    data: BTreeMap<String, String>,
}

impl SequentialSpec for KvSpec {
    type Op = Op;
    type Ret = OpResult;

    fn invoke(&mut self, op: &Op) -> OpResult {
        match op {
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                OpResult::Done
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                OpResult::Done
            }
            Op::Get { key } => OpResult::Value(self.data.get(key).cloned()),
        }
    }
}

/// Identifies a client (a sequential thread of operations) in a history.
pub type ClientIndex = usize;

/// A recorded history: invocations and returns in real-time order, split by key.
#[derive(Default)]
pub struct History {
    by_key: BTreeMap<String, LinearizabilityTester<ClientIndex, KvSpec>>,
    /// Key of each client's operation in flight.
    in_flight: BTreeMap<ClientIndex, String>,
    completed: usize,
    /// The first misuse (e.g. two operations in flight for one client), if any.
    error: Option<String>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn invoke(&mut self, client: ClientIndex, op: Op) {
        let key = op.key().to_string();
        self.in_flight.insert(client, key.clone());
        let t = self
            .by_key
            .entry(key)
            .or_insert_with(|| LinearizabilityTester::new(KvSpec::default()));
        if let Err(e) = t.on_invoke(client, op) {
            self.error.get_or_insert(e);
        }
    }

    pub fn ret(&mut self, client: ClientIndex, result: OpResult) {
        let Some(key) = self.in_flight.remove(&client) else {
            self.error
                .get_or_insert(format!("client {client} returned with nothing in flight"));
            return;
        };
        self.completed += 1;
        let t = self.by_key.get_mut(&key).expect("invoked before");
        if let Err(e) = t.on_return(client, result) {
            self.error.get_or_insert(e);
        }
    }

    /// Completed operations recorded.
    pub fn completed(&self) -> usize {
        self.completed
    }

    /// `Ok` if every key's history is linearizable (operations still in flight may or may not
    /// have taken effect); otherwise the first key that is not, with its operation count.
    pub fn check(&self) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(format!("malformed history: {e}"));
        }
        for (key, t) in &self.by_key {
            if !t.is_consistent() {
                return Err(format!(
                    "history of key {key:?} ({} operations) is not linearizable",
                    t.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(k: &str) -> Op {
        Op::Get { key: k.into() }
    }
    fn append(k: &str, v: &str) -> Op {
        Op::Append {
            key: k.into(),
            value: v.into(),
        }
    }
    fn val(v: &str) -> OpResult {
        OpResult::Value(Some(v.into()))
    }

    #[test]
    fn concurrent_appends_in_either_order_are_linearizable() {
        let mut h = History::new();
        h.invoke(0, append("k", "a"));
        h.invoke(1, append("k", "b"));
        h.ret(1, OpResult::Done);
        h.ret(0, OpResult::Done);
        h.invoke(2, get("k"));
        h.ret(2, val("ba"));
        assert_eq!(h.check(), Ok(()));
    }

    #[test]
    fn a_stale_read_is_caught() {
        let mut h = History::new();
        h.invoke(
            0,
            Op::Put {
                key: "k".into(),
                value: "new".into(),
            },
        );
        h.ret(0, OpResult::Done);
        // Starts after the Put returned, yet misses it.
        h.invoke(1, get("k"));
        h.ret(1, OpResult::Value(None));
        assert!(h.check().is_err());
    }

    #[test]
    fn a_duplicated_append_is_caught() {
        let mut h = History::new();
        h.invoke(0, append("k", "a"));
        h.ret(0, OpResult::Done);
        h.invoke(0, get("k"));
        h.ret(0, val("aa"));
        assert!(h.check().is_err());
    }

    #[test]
    fn an_unfinished_append_may_or_may_not_show() {
        let mut h = History::new();
        h.invoke(0, append("k", "a"));
        h.invoke(1, get("k"));
        h.ret(1, val("a"));
        h.invoke(1, get("k"));
        h.ret(1, val("a"));
        assert_eq!(h.check(), Ok(()));
        // But once seen, it cannot disappear.
        h.invoke(1, get("k"));
        h.ret(1, OpResult::Value(None));
        assert!(h.check().is_err());
    }
}
