use std::collections::VecDeque;

use raft_impl::core::{Config, Envelope, Message, RawNode, Ready, Role};
use raft_impl::storage::{MemStorage, Storage};
use raft_impl::testing;
use raft_impl::types::{Entry, HardState, Index};

use super::{Apply, Job, Pipeline};

/// The production configuration without pre-vote, so an election timeout sends RequestVote at
/// once (the pre-vote round writes nothing; `a_pre_vote_leaves_before_any_write` covers it).
fn config(id: u64, peers: &[u64]) -> Config {
    Config {
        pre_vote: false,
        ..Config::production(id, peers.iter().copied(), 7 + id)
    }
}

/// A core, its pipeline and a storage whose jobs complete only when the test says so.
struct Node {
    node: RawNode,
    pipe: Pipeline,
    storage: MemStorage,
    jobs: VecDeque<Job>,
    sent: Vec<Envelope>,
    applied: Vec<Index>,
}

impl Node {
    fn new(id: u64, peers: &[u64]) -> Node {
        Node::with_config(config(id, peers))
    }

    fn with_config(cfg: Config) -> Node {
        Node {
            node: RawNode::new(cfg).unwrap(),
            pipe: Pipeline::default(),
            storage: MemStorage::new(),
            jobs: VecDeque::new(),
            sent: vec![],
            applied: vec![],
        }
    }

    /// A node in parallel-writes mode, as the node loop sets it up with a persist thread.
    fn parallel(id: u64, peers: &[u64]) -> Node {
        let mut node = RawNode::new(config(id, peers)).unwrap();
        node.set_self_ack_on_persist(true);
        Node {
            node,
            pipe: Pipeline::with_parallel_leader_writes(),
            storage: MemStorage::new(),
            jobs: VecDeque::new(),
            sent: vec![],
            applied: vec![],
        }
    }

    /// Takes every Ready and releases what is allowed.
    fn pump(&mut self) {
        while self.node.has_ready() {
            let rd = self.node.ready();
            if let Some(job) = self.pipe.push(rd) {
                self.jobs.push_back(job);
            }
        }
        self.release();
    }

    fn release(&mut self) {
        let (sent, applied, node) = (&mut self.sent, &mut self.applied, &mut self.node);
        self.pipe.release(
            |e| sent.push(e),
            entries_into(applied),
            |rd| node.advance(rd),
        );
    }

    /// Makes the oldest `n` jobs durable (one sync), then releases.
    fn persist(&mut self, n: usize) {
        let mut last = None;
        for job in self.jobs.drain(..n) {
            last = Some(job.id);
            job.stage(&mut self.storage).unwrap();
        }
        self.storage.sync().unwrap();
        if let Some(id) = last {
            self.pipe.durable(id);
        }
        if let Some((index, term)) = self.pipe.take_persisted() {
            self.node.on_persisted(index, term);
        }
        self.pump();
    }

    fn persist_all(&mut self) {
        self.persist(self.jobs.len());
    }

    /// Steps an AppendEntries and checks the success reply leaves only once the entries
    /// are durable; returns what was sent then.
    fn acknowledge_once_durable(&mut self, ae: Envelope) -> Vec<Envelope> {
        self.node.step(ae).unwrap();
        self.pump();
        assert!(
            self.sent.is_empty(),
            "acknowledged before the entries are durable"
        );
        self.persist_all();
        let ack = self.take_sent();
        assert!(matches!(&ack[0].msg, Message::AppendEntriesResponse(r) if r.success));
        ack
    }

    fn take_sent(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.sent)
    }
}

fn to(msgs: &[Envelope], id: u64) -> Envelope {
    msgs.iter()
        .find(|e| e.to == id)
        .expect("a message to id")
        .clone()
}

/// Thesis §9.6: a pre-vote changes no durable state, so neither the request nor its grant
/// waits for a write; the RequestVote after it does.
#[test]
fn a_pre_vote_leaves_before_any_write() {
    let production = |id, peers: &[u64]| Config::production(id, peers.iter().copied(), 7 + id);
    let mut n1 = Node::with_config(production(1, &[2, 3]));
    let mut n2 = Node::with_config(production(2, &[1, 3]));
    n1.node.election_timeout_now();
    n1.pump();
    assert_eq!(n1.pipe.jobs_in_flight(), 0, "a pre-vote wrote something");
    let pre_votes = n1.take_sent();
    assert_eq!(pre_votes.len(), 2);
    assert!(pre_votes
        .iter()
        .all(|e| matches!(e.msg, Message::PreVote(_))));
    assert_eq!(n1.node.current_term(), 0, "a pre-candidate took a term");

    n2.node.step(to(&pre_votes, 2)).unwrap();
    n2.pump();
    assert_eq!(
        n2.pipe.jobs_in_flight(),
        0,
        "a pre-vote grant wrote something"
    );
    let grant = n2.take_sent();
    assert!(matches!(&grant[0].msg, Message::PreVoteResponse(r) if r.vote_granted));

    n1.node.step(grant[0].clone()).unwrap();
    n1.pump();
    assert!(n1.sent.is_empty(), "RequestVote before the term is durable");
    n1.persist_all();
    let votes = n1.take_sent();
    assert!(votes
        .iter()
        .all(|e| matches!(e.msg, Message::RequestVote(_))));
    assert_eq!(n1.storage.hard_state().current_term, 1);
}

#[test]
fn votes_appends_and_acknowledgements_leave_only_after_their_writes_are_durable() {
    let mut n1 = Node::new(1, &[2, 3]);
    let mut n2 = Node::new(2, &[1, 3]);

    // A candidate's RequestVote waits for its new term and self-vote.
    n1.node.election_timeout_now();
    n1.pump();
    assert!(n1.sent.is_empty(), "RequestVote before the term is durable");
    assert_eq!(n1.pipe.jobs_in_flight(), 1);
    n1.persist_all();
    assert_eq!(n1.storage.hard_state().voted_for, Some(1));
    let votes = n1.take_sent();
    assert_eq!(votes.len(), 2);

    // The vote grant waits for the voter's durable vote.
    n2.node.step(to(&votes, 2)).unwrap();
    n2.pump();
    assert!(n2.sent.is_empty(), "vote granted before it is durable");
    n2.persist_all();
    assert_eq!(
        n2.storage.hard_state(),
        HardState {
            current_term: 1,
            voted_for: Some(1),
            lost_up_to: 0,
            lost_term: 0,
        }
    );
    let grant = n2.take_sent();
    assert!(matches!(&grant[0].msg, Message::RequestVoteResponse(r) if r.vote_granted));

    // The new leader appends its no-op; its AppendEntries wait for its own write.
    n1.node.step(grant[0].clone()).unwrap();
    assert_eq!(n1.node.role(), Role::Leader);
    n1.pump();
    assert!(
        n1.sent.is_empty(),
        "AppendEntries before the leader's entries are durable"
    );
    n1.persist_all();
    let appends = n1.take_sent();
    let ae = to(&appends, 2);
    assert!(matches!(&ae.msg, Message::AppendEntries(a) if a.entries.len() == 1));

    // The follower's success waits for its own write.
    let ack = n2.acknowledge_once_durable(ae);
    assert_eq!(n2.storage.last_index(), 1);

    // Committed on the leader: durable there, so applied at once, no job needed.
    n1.node.step(ack[0].clone()).unwrap();
    n1.pump();
    assert_eq!(n1.applied, vec![1]);
    assert_eq!(n1.pipe.jobs_in_flight(), 0);

    // Two proposals in two Readies; only the first's write completes: only its messages go,
    // and the second Ready (with the heartbeat-carried second entry) waits.
    n1.node.propose(b"a".to_vec()).unwrap();
    n1.node.replicate_now().unwrap();
    n1.pump();
    n1.node.propose(b"b".to_vec()).unwrap();
    n1.node.replicate_now().unwrap();
    n1.pump();
    assert_eq!(n1.pipe.jobs_in_flight(), 2);
    assert!(n1.sent.is_empty());
    n1.persist(1);
    let first = n1.take_sent();
    assert!(!first.is_empty());
    for e in &first {
        if let Message::AppendEntries(a) = &e.msg {
            assert!(
                a.entries.iter().all(|x| x.index <= 2),
                "entry 3 sent before durable"
            );
        }
    }
    n1.persist(1);
    let second = n1.take_sent();
    assert!(second.iter().any(
        |e| matches!(&e.msg, Message::AppendEntries(a) if a.entries.iter().any(|x| x.index == 3))
    ));
    assert_eq!(n1.pipe.readies_pending(), 0);
}

#[test]
fn a_single_node_applies_its_own_commits_only_once_durable() {
    let mut n = Node::new(1, &[]);
    n.node.election_timeout_now();
    assert_eq!(n.node.role(), Role::Leader);
    n.node.propose(b"x".to_vec()).unwrap();
    n.pump();
    assert!(n.node.commit_index() >= 2, "a single node commits at once");
    assert!(n.applied.is_empty(), "applied before durable");
    n.persist_all();
    assert_eq!(n.applied, vec![1, 2]);
    assert_eq!(n.node.status().applied_index, 2);
}

fn entry(index: Index) -> Entry {
    testing::entry(index, 1, vec![index as u8])
}

/// An `apply` callback for [`Pipeline::release`] recording the entries' indices.
fn entries_into(v: &mut Vec<Index>) -> impl FnMut(Apply<'_>) + '_ {
    |a| {
        if let Apply::Entry(e) = a {
            v.push(e.index)
        }
    }
}

fn heartbeat(to: u64) -> Envelope {
    testing::env(1, to, testing::append(1))
}

#[test]
fn durable_entries_apply_early_in_log_order_and_readies_finish_in_order() {
    let mut p = Pipeline::default();
    let (mut sent, mut applied, mut advanced) = (vec![], vec![], vec![]);
    let mut release = |p: &mut Pipeline| {
        p.release(
            |e| sent.push(e.to),
            entries_into(&mut applied),
            |rd| advanced.push(rd.committed_entries.len()),
        );
        (sent.clone(), applied.clone(), advanced.clone())
    };
    // A: writes 5..=6, commits 3 and 4 (durable already): applied now, its message waits.
    let a = p
        .push(Ready {
            entries: vec![entry(5), entry(6)],
            committed_entries: vec![entry(3), entry(4)],
            messages: vec![heartbeat(2)],
            ..Ready::default()
        })
        .unwrap();
    assert_eq!(release(&mut p), (vec![], vec![3, 4], vec![]));
    // B: no writes, commits 5 (still being written by A): neither applied nor sent.
    assert!(p
        .push(Ready {
            committed_entries: vec![entry(5)],
            messages: vec![heartbeat(3)],
            ..Ready::default()
        })
        .is_none());
    // C: only a hard state (no log change): commits 6, which A is still writing.
    let c = p
        .push(Ready {
            hard_state: Some(HardState {
                current_term: 2,
                voted_for: None,
                lost_up_to: 0,
                lost_term: 0,
            }),
            committed_entries: vec![entry(6)],
            ..Ready::default()
        })
        .unwrap();
    assert_eq!(release(&mut p), (vec![], vec![3, 4], vec![]));
    // A durable: A's and B's messages go, 5 and 6 apply (no unfinished job writes the log),
    // A and B finish; C waits for its hard state.
    p.durable(a.id);
    assert_eq!(release(&mut p), (vec![2, 3], vec![3, 4, 5, 6], vec![2, 1]));
    assert_eq!(p.readies_pending(), 1);
    p.durable(c.id);
    assert_eq!(
        release(&mut p),
        (vec![2, 3], vec![3, 4, 5, 6], vec![2, 1, 1])
    );
    assert_eq!(p.readies_pending(), 0);
}

#[test]
fn a_later_truncation_holds_back_entries_above_it() {
    let mut p = Pipeline::default();
    let mut applied = vec![];
    let a = p
        .push(Ready {
            entries: vec![entry(10)],
            ..Ready::default()
        })
        .unwrap();
    // B rewrites from 4 while A is unfinished; an entry at 5 committed meanwhile (impossible in
    // Raft, but the rule must hold anyway) must wait for B.
    let b = p
        .push(Ready {
            truncate_from: Some(4),
            entries: vec![entry(4)],
            committed_entries: vec![entry(3), entry(5)],
            ..Ready::default()
        })
        .unwrap();
    p.durable(a.id);
    p.release(|_| {}, entries_into(&mut applied), |_| {});
    assert_eq!(applied, vec![3]);
    p.durable(b.id);
    p.release(|_| {}, entries_into(&mut applied), |_| {});
    assert_eq!(applied, vec![3, 5]);
}

/// Thesis §10.2.1 (parallel leader writes): the leader's AppendEntries leave before its own write
/// is durable, but it does not count itself until it is; votes and acknowledgements still wait.
#[test]
fn with_parallel_leader_writes_only_appends_leave_early_and_the_leader_counts_itself_once_durable()
{
    let mut n1 = Node::parallel(1, &[2, 3]);
    let mut n2 = Node::parallel(2, &[1, 3]);
    n1.node.election_timeout_now();
    n1.pump();
    assert!(n1.sent.is_empty(), "RequestVote before the term is durable");
    n1.persist_all();
    let votes = n1.take_sent();
    n2.node.step(to(&votes, 2)).unwrap();
    n2.pump();
    assert!(n2.sent.is_empty(), "vote granted before it is durable");
    n2.persist_all();
    let grant = n2.take_sent();
    n1.node.step(grant[0].clone()).unwrap();
    assert_eq!(n1.node.role(), Role::Leader);

    // The no-op's AppendEntries leave while the leader's write is still in flight.
    n1.pump();
    assert_eq!(n1.pipe.jobs_in_flight(), 1);
    let appends = n1.take_sent();
    let ae = to(&appends, 2);
    assert!(matches!(&ae.msg, Message::AppendEntries(a) if a.entries.len() == 1));

    // The follower still acknowledges only once durable.
    let ack = n2.acknowledge_once_durable(ae);

    // One durable follower of three is not a majority while the leader's write is in flight.
    n1.node.step(ack[0].clone()).unwrap();
    n1.pump();
    assert_eq!(
        n1.node.commit_index(),
        0,
        "leader counted itself before its write"
    );
    assert!(n1.applied.is_empty());
    // The leader's write completes: reported to the core, which commits and applies.
    n1.persist_all();
    assert_eq!(n1.node.commit_index(), 1);
    assert_eq!(n1.applied, vec![1]);
}

#[test]
fn a_leaders_snapshot_is_restored_once_durable_before_the_entries_after_it() {
    use raft_impl::types::{Snapshot, SnapshotMeta};
    let mut p = Pipeline::default();
    let log = std::cell::RefCell::new(Vec::<String>::new());
    let release = |p: &mut Pipeline| {
        p.release(
            |_| {},
            |a| {
                log.borrow_mut().push(match a {
                    Apply::Restore(s) => format!("restore {}", s.meta.last_included_index),
                    Apply::Entry(e) => format!("apply {}", e.index),
                })
            },
            |_| log.borrow_mut().push("advance".into()),
        );
    };
    // An earlier Ready commits 1 (durable already).
    assert!(p
        .push(Ready {
            committed_entries: vec![entry(1)],
            ..Ready::default()
        })
        .is_none());
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_included_index: 5,
            last_included_term: 1,
        },
        data: bytes::Bytes::from_static(b"state"),
    };
    let job = p
        .push(Ready {
            snapshot: Some(snapshot.clone()),
            restore_snapshot: true,
            entries: vec![entry(6)],
            committed_entries: vec![entry(6)],
            ..Ready::default()
        })
        .unwrap();
    assert_eq!(
        job.snapshot,
        Some(snapshot),
        "the job persists the snapshot"
    );
    release(&mut p);
    assert_eq!(
        *log.borrow(),
        ["apply 1", "advance"],
        "nothing of the snapshot yet"
    );
    p.durable(job.id);
    release(&mut p);
    assert_eq!(
        *log.borrow(),
        ["apply 1", "advance", "restore 5", "apply 6", "advance"]
    );
}
