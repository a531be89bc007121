//! Faults on the simulated KV cluster: network reliability, server crashes and restarts,
//! partitions of servers and of clients.

use super::KvSim;

impl KvSim {
    /// Client and server networks unreliable (loss, duplication, delay) or not.
    pub fn set_unreliable(&mut self, on: bool) {
        self.cluster.set_unreliable(on);
        self.net.unreliable = on;
    }

    /// Server `i` (Raft node and KV service) crashes at a random point of its sync cycle.
    pub fn crash(&mut self, i: usize) {
        if !self.cluster.is_up(i) {
            return;
        }
        self.cluster.crash_random(i);
        // Waiting clients get no answer from a dead server; they time out.
        self.servers[i].crash();
        self.seen_term[i] = 0;
        self.entries_applied[i] = 0;
    }

    /// Restarts server `i`; its state machine is loaded from the node's durable snapshot (if
    /// any) and rebuilt as the log after it is re-applied.
    pub fn restart(&mut self, i: usize) {
        self.cluster.restart(i);
    }

    /// Servers in the same group can talk; others cannot.
    pub fn partition(&mut self, group: &[usize]) {
        let n = self.servers.len();
        for a in 0..n {
            for b in a + 1..n {
                self.cluster.set_link(a, b, group[a] == group[b]);
            }
        }
        self.cluster.note_partition(group);
    }

    /// Every server link up (reliability unchanged).
    pub fn heal_servers(&mut self) {
        self.partition(&vec![0; self.servers.len()]);
    }

    /// Client `c` reaches exactly `servers`.
    pub fn connect_client(&mut self, c: usize, servers: &[usize]) {
        for s in 0..self.servers.len() {
            self.net.set_reach(c, s, servers.contains(&s));
        }
    }

    pub fn connect_client_all(&mut self, c: usize) {
        let all: Vec<usize> = (0..self.servers.len()).collect();
        self.connect_client(c, &all);
    }

    /// Position of a server that believes it is leader now, if any.
    pub fn leader(&self) -> Option<usize> {
        (0..self.servers.len()).find(|&i| self.cluster.get_state(i).is_some_and(|(_, l)| l))
    }
}
