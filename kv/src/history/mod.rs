//! Checking client histories for linearizability with stateright's `LinearizabilityTester`
//! against [`KvSpec`], the sequential specification of the service.
//!
//! The history is split by key before checking. Linearizability is local (Herlihy & Wing): a
//! history is linearizable iff its restriction to each object is, and each key is an
//! independent object of a key/value map. Splitting keeps every search small; one tester over
//! all keys would have to interleave unrelated operations.
//!
//! - [`format`]: the exported JSON form of a history (`raftkv check-history` reads it);
//! - [`linearize`]: an independent search (Wing & Gong, as Porcupine does it) that also finds
//!   the longest linearizable prefix of a key's operations, for the picture;
//! - [`timeline`]: the HTML timeline per client.

pub mod format;
pub mod linearize;
pub mod timeline;

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

/// One operation of a history: who, what, when it was invoked, and when and
/// how it returned (None: no answer was seen; it may or may not have taken
/// effect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: ClientIndex,
    pub op: Op,
    /// Invocation time: microseconds (real or simulated), or a logical clock.
    pub invoke: u64,
    pub ret: Option<(u64, OpResult)>,
}

/// A recorded history: operations in invocation order, each client with at
/// most one in flight.
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Operation>,
    /// Position in `ops` of each client's operation in flight.
    in_flight: BTreeMap<ClientIndex, usize>,
    /// The last time stamped; `invoke`/`ret` without a time use it + 1.
    clock: u64,
    /// The first misuse (e.g. two operations in flight for one client), if any.
    error: Option<String>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an invocation now (a logical clock that follows call order).
    pub fn invoke(&mut self, client: ClientIndex, op: Op) {
        let t = self.clock + 1;
        self.invoke_at(client, op, t);
    }

    /// Records a return now.
    pub fn ret(&mut self, client: ClientIndex, result: OpResult) {
        let t = self.clock + 1;
        self.ret_at(client, result, t);
    }

    /// Records an invocation at `time` (never before an earlier record).
    pub fn invoke_at(&mut self, client: ClientIndex, op: Op, time: u64) {
        self.stamp(time);
        if self.in_flight.insert(client, self.ops.len()).is_some() {
            self.error.get_or_insert(format!(
                "client {client} invoked with an operation in flight"
            ));
        }
        self.ops.push(Operation {
            client,
            op,
            invoke: time,
            ret: None,
        });
    }

    /// Records the return of `client`'s operation in flight at `time`.
    pub fn ret_at(&mut self, client: ClientIndex, result: OpResult, time: u64) {
        self.stamp(time);
        let Some(at) = self.in_flight.remove(&client) else {
            self.error
                .get_or_insert(format!("client {client} returned with nothing in flight"));
            return;
        };
        self.ops[at].ret = Some((time, result));
    }

    fn stamp(&mut self, time: u64) {
        if time < self.clock {
            self.error
                .get_or_insert(format!("time goes backwards: {time} after {}", self.clock));
        }
        self.clock = self.clock.max(time);
    }

    /// A history of these operations (as read from a file).
    pub fn from_operations(ops: Vec<Operation>) -> Result<History, String> {
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            events.push((o.invoke, false, i));
            if let Some((t, _)) = &o.ret {
                if *t < o.invoke {
                    return Err(format!(
                        "operation {i} returns at {t}, before its invocation at {}",
                        o.invoke
                    ));
                }
                events.push((*t, true, i));
            }
        }
        events.sort_by_key(|&(t, is_ret, i)| (t, i, is_ret));
        let mut h = History::new();
        for (t, is_ret, i) in events {
            let o = &ops[i];
            if is_ret {
                let (_, r) = o.ret.clone().expect("a return event has a result");
                h.ret_at(o.client, r, t);
            } else {
                h.invoke_at(o.client, o.op.clone(), t);
            }
        }
        match h.error.take() {
            Some(e) => Err(e),
            None => Ok(h),
        }
    }

    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    /// Completed operations recorded.
    pub fn completed(&self) -> usize {
        self.ops.iter().filter(|o| o.ret.is_some()).count()
    }

    /// `Ok` if every key's history is linearizable (operations still in flight may or may not
    /// have taken effect); otherwise the first key that is not, with its operation count.
    pub fn check(&self) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(format!("malformed history: {e}"));
        }
        // Replay the invocations and returns in time order into one tester per key (at one
        // instant, in invocation order).
        let mut events: Vec<(u64, usize, u8)> = Vec::new();
        for (i, o) in self.ops.iter().enumerate() {
            events.push((o.invoke, i, 0));
            if let Some((t, _)) = &o.ret {
                events.push((*t, i, 1));
            }
        }
        events.sort();
        let mut by_key: BTreeMap<&str, LinearizabilityTester<ClientIndex, KvSpec>> =
            BTreeMap::new();
        for (_, i, kind) in events {
            let o = &self.ops[i];
            let t = by_key
                .entry(o.op.key())
                .or_insert_with(|| LinearizabilityTester::new(KvSpec::default()));
            let recorded = match (kind, &o.ret) {
                (0, _) => t.on_invoke(o.client, o.op.clone()).map(|_| ()),
                (_, Some((_, r))) => t.on_return(o.client, r.clone()).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = recorded {
                return Err(format!("malformed history: {e}"));
            }
        }
        // The tester's search recurses once per placed operation: give it a stack that a long
        // history cannot overflow (reserved, not committed, by the OS) instead of the caller's.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("linearizability".into())
                .stack_size(CHECK_STACK)
                .spawn_scoped(scope, || {
                    for (key, t) in &by_key {
                        if !t.is_consistent() {
                            return Err(format!(
                                "history of key {key:?} ({} operations) is not linearizable",
                                t.len()
                            ));
                        }
                    }
                    Ok(())
                })
                .map_err(|e| format!("cannot start the checker thread: {e}"))?
                .join()
                .unwrap_or_else(|_| Err("the linearizability checker panicked".into()))
        })
    }
}

/// Stack of the thread that runs the linearizability search.
const CHECK_STACK: usize = 1 << 30;

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
    fn json_round_trips_and_bad_records_name_themselves() {
        let mut h = History::new();
        h.invoke_at(0, append("k", "a"), 10);
        h.invoke_at(1, get("k"), 12);
        h.ret_at(1, val("a"), 20);
        h.ret_at(0, OpResult::Done, 25);
        h.invoke_at(2, get("k"), 30);
        let back = History::from_json(&h.to_json("us")).unwrap();
        assert_eq!(back.operations(), h.operations());
        let bad = h
            .to_json("us")
            .replacen("\"outcome\": \"ok\"", "\"outcome\": \"value\"", 1);
        assert!(History::from_json(&bad)
            .unwrap_err()
            .contains("operations[0]"));
        let err = History::from_json("{\"format\": 1}").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn the_independent_search_agrees_and_shows_how_far_it_got() {
        let mut h = History::new();
        h.invoke(0, append("k", "a"));
        h.ret(0, OpResult::Done);
        h.invoke(0, get("k"));
        h.ret(0, val("aa")); // a duplicated append
        let reports = linearize::analyze(&h, 10_000);
        assert_eq!(reports.len(), 1);
        assert!(!reports[0].linearizable && h.check().is_err());
        assert_eq!(
            (reports[0].order.clone(), reports[0].unplaced.clone()),
            (vec![0], vec![1])
        );
    }

    proptest::proptest! {
        /// Two checkers, one verdict: stateright's tester and the Wing & Gong search agree on
        /// random small histories of two clients over one key.
        #[test]
        fn both_checkers_agree(events in proptest::collection::vec((0usize..3, 0u8..4), 1..14)) {
            let mut h = History::new();
            let mut open = [None::<Op>, None, None];
            for (c, pick) in events {
                match open[c].take() {
                    None => {
                        let op = match pick {
                            0 => Op::Put { key: "k".into(), value: "x".into() },
                            1 => append("k", "y"),
                            _ => get("k"),
                        };
                        h.invoke(c, op.clone());
                        open[c] = Some(op);
                    }
                    Some(op) => {
                        let ret = match (op, pick) {
                            (Op::Get { .. }, 0) => OpResult::Value(None),
                            (Op::Get { .. }, 1) => val("x"),
                            (Op::Get { .. }, 2) => val("y"),
                            (Op::Get { .. }, _) => val("xy"),
                            _ => OpResult::Done,
                        };
                        h.ret(c, ret);
                    }
                }
            }
            let search = linearize::analyze(&h, 1_000_000).iter().all(|r| r.linearizable);
            proptest::prop_assert_eq!(search, h.check().is_ok());
        }
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
