//! The witness sink (`acttrace::checkpoint::witness::WitnessSink`) against a C2SP tlog-witness
//! on 127.0.0.1 (tests/common/witness.rs), through the pinned `CheckpointSink` trait, and
//! `fetch_latest` (what `verify --witness URL` uses).

#[path = "common/witness.rs"]
mod server;

use std::time::Duration;

use acttrace::checkpoint::witness::{
    WitnessError, WitnessKey, fetch_latest, verify_witnessed_checkpoint,
};
use acttrace::checkpoint::{
    Checkpoint, CheckpointSink, CommittedCheckpoint, Frontier, SignerKey, SinkEvent, root_of,
};
use server::{Faults, WitnessServer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const ORIGIN: &str = "acttrace.test/witness-log";
const WITNESS: &str = "witness.test/w1";

fn log_signer() -> SignerKey {
    SignerKey::from_seed(ORIGIN, Zeroizing::new([11u8; 32])).unwrap()
}

fn server() -> WitnessServer {
    WitnessServer::start(WITNESS, [22u8; 32], log_signer().verifier())
}

fn keys(server: &WitnessServer) -> Vec<WitnessKey> {
    vec![server.vkey().parse().unwrap()]
}

/// A sink with tiny retry times, so that "unreachable" comes quickly.
fn sink(server: &WitnessServer) -> acttrace::checkpoint::witness::WitnessSink {
    acttrace::checkpoint::witness::WitnessSink::new(&server.url, keys(server))
        .unwrap()
        .unreachable_after(Duration::from_millis(200))
        .backoff(Duration::from_millis(5), Duration::from_millis(40))
        .timeout(Duration::from_secs(10))
}

/// A log as the sequencer sees it: all leaves, and the checkpoints given to one sink.
struct Log {
    leaves: Vec<[u8; 32]>,
    seed: u64,
    previous: Frontier,
}

impl Log {
    /// Leaves from `seed` (two logs with different seeds have different histories).
    fn new(seed: u64) -> Log {
        Log {
            leaves: Vec::new(),
            seed,
            previous: Frontier::new(),
        }
    }

    /// Appends `n` leaves and makes the checkpoint over all of them, as given to a sink
    /// after the previous one.
    fn checkpoint(&mut self, n: usize) -> CommittedCheckpoint {
        let start = self.leaves.len();
        for i in start..start + n {
            let leaf = Sha256::digest(format!("{}:{i}", self.seed)).into();
            self.leaves.push(leaf);
        }
        let size = self.leaves.len() as u64;
        let root = root_of(&self.leaves);
        let note = log_signer()
            .sign(&Checkpoint::new(ORIGIN, size, root).unwrap().body())
            .unwrap();
        let cp = CommittedCheckpoint {
            origin: ORIGIN.into(),
            note,
            tree_size: size,
            root,
            previous_size: self.previous.size(),
            previous_frontier: self.previous.clone(),
            leaves: self.leaves[self.previous.size() as usize..].to_vec(),
        };
        for leaf in &cp.leaves {
            self.previous.append(leaf);
        }
        cp
    }

    /// The checkpoint over the first `size` leaves, as the first one a fresh sink is given
    /// (a restarted or rolled-back writer).
    fn fresh_checkpoint(&self, size: usize) -> CommittedCheckpoint {
        let leaves = self.leaves[..size].to_vec();
        let root = root_of(&leaves);
        CommittedCheckpoint {
            origin: ORIGIN.into(),
            note: log_signer()
                .sign(&Checkpoint::new(ORIGIN, size as u64, root).unwrap().body())
                .unwrap(),
            tree_size: size as u64,
            root,
            previous_size: 0,
            previous_frontier: Frontier::new(),
            leaves,
        }
    }
}

/// Asserts one verified cosignature event for `cp` and returns its line.
fn assert_cosigned(events: &[SinkEvent], cp: &CommittedCheckpoint, keys: &[WitnessKey]) {
    let [
        SinkEvent::Cosignature {
            witness,
            tree_size,
            signature_line,
        },
    ] = events
    else {
        panic!("expected one cosignature, got {events:?}");
    };
    assert_eq!(witness, WITNESS);
    assert_eq!(*tree_size, cp.tree_size);
    let cosigned = format!("{}{signature_line}\n", cp.note);
    let got = verify_witnessed_checkpoint(&cosigned, ORIGIN, keys, &log_signer().verifier())
        .unwrap_or_else(|e| panic!("{e}: {cosigned}"));
    assert_eq!(got.checkpoint.size, cp.tree_size);
}

#[test]
fn checkpoints_are_cosigned_with_consistency_proofs_and_fetched_back() {
    let w = server();
    let keys = keys(&w);
    let mut log = Log::new(1);
    let mut s = sink(&w);
    for n in [5, 7, 1, 20] {
        let cp = log.checkpoint(n);
        assert_cosigned(&s.publish(&cp), &cp, &keys);
        assert_eq!(w.held(ORIGIN).unwrap().size, cp.tree_size);
    }
    // Each request came from the size the witness held, and each proof verified there.
    assert_eq!(w.requests(), vec![(0, 200), (5, 200), (12, 200), (13, 200)]);

    // The sink holds the cosigned checkpoint; a verifier fetches the same from the witness.
    let held = s.latest(ORIGIN).unwrap().unwrap();
    let fetched = fetch_latest(&w.url, ORIGIN, &keys, &log_signer().verifier()).unwrap();
    assert_eq!(held, fetched);
    let cp = Checkpoint::from_note(&fetched, &[log_signer().verifier()]).unwrap();
    assert_eq!((cp.size, cp.root), (33, root_of(&log.leaves)));
    assert_eq!(s.latest("acttrace.test/other").unwrap(), None);

    // A fresh sink with the monitoring resource reads it at open.
    let mut fresh = sink(&w).monitoring(&w.url, log_signer().verifier());
    assert_eq!(fresh.latest(ORIGIN).unwrap(), Some(fetched));
    assert_eq!(fresh.latest("acttrace.test/other").unwrap(), None);
    assert_eq!(
        fetch_latest(
            &w.url,
            "acttrace.test/other",
            &keys,
            &log_signer().verifier()
        ),
        Err(WitnessError::NotFound)
    );
    // Another witness's key does not make the checkpoint cosigned.
    let stranger = WitnessServer::start(WITNESS, [99u8; 32], log_signer().verifier());
    assert!(matches!(
        fetch_latest(
            &w.url,
            ORIGIN,
            &keys_of(&stranger),
            &log_signer().verifier()
        ),
        Err(WitnessError::NoCosignature { .. })
    ));
}

fn keys_of(server: &WitnessServer) -> Vec<WitnessKey> {
    keys(server)
}

#[test]
fn a_409_naming_a_smaller_size_is_answered_by_a_resend_from_it() {
    let w = server();
    let keys = keys(&w);
    let mut log = Log::new(2);
    let first = log.checkpoint(5);
    assert_cosigned(&sink(&w).publish(&first), &first, &keys);
    log.checkpoint(9);

    // A restarted writer's sink does not know the witness's size: it sends old 0, the
    // witness names 5, the sink proves 5 -> 14 from the leaves it was given.
    let mut restarted = sink(&w);
    let cp = log.fresh_checkpoint(14);
    assert_cosigned(&restarted.publish(&cp), &cp, &keys);
    assert_eq!(w.requests(), vec![(0, 200), (0, 409), (5, 200)]);
    assert_eq!(w.held(ORIGIN).unwrap().size, 14);
}

#[test]
fn a_409_naming_a_larger_size_is_a_conflict() {
    let w = server();
    let mut log = Log::new(3);
    let big = log.checkpoint(20);
    assert!(matches!(
        sink(&w).publish(&big)[..],
        [SinkEvent::Cosignature { .. }]
    ));

    // The log was cut back to 12 entries and a writer starts on it: the witness saw 20.
    let mut rolled_back = sink(&w);
    let events = rolled_back.publish(&log.fresh_checkpoint(12));
    let [
        SinkEvent::Conflict {
            witness,
            ours,
            theirs,
            detail,
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((witness.as_str(), *ours, *theirs), (WITNESS, 12, 20));
    assert!(detail.contains("rolled back"), "{detail}");
    assert_eq!(w.held(ORIGIN).unwrap().size, 20, "the witness keeps 20");

    // A witness naming a larger size out of turn (fault switch) is a conflict too.
    let w2 = server();
    let mut log2 = Log::new(4);
    let mut s = sink(&w2);
    let cp = log2.checkpoint(3);
    assert!(matches!(
        s.publish(&cp)[..],
        [SinkEvent::Cosignature { .. }]
    ));
    w2.set_faults(Faults {
        reply_409_once: Some(1000),
        ..Faults::default()
    });
    let cp = log2.checkpoint(3);
    assert!(matches!(
        s.publish(&cp)[..],
        [SinkEvent::Conflict {
            ours: 6,
            theirs: 1000,
            ..
        }]
    ));
}

#[test]
fn an_unreachable_witness_becomes_a_witness_gap_and_the_sink_catches_up_after() {
    let w = server();
    let keys = keys(&w);
    let mut log = Log::new(5);
    let mut s = sink(&w);
    let first = log.checkpoint(4);
    assert_cosigned(&s.publish(&first), &first, &keys);

    w.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let events = s.publish(&log.checkpoint(6));
    let [
        SinkEvent::Unreachable {
            witness,
            since_size,
            detail,
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((witness.as_str(), *since_size), (WITNESS, 4));
    assert!(detail.contains("no cosignature"), "{detail}");
    // Reported once: while it stays down, later checkpoints add no entry.
    assert_eq!(s.publish(&log.checkpoint(2)), vec![]);

    // Back up: the sink proves 4 -> 15 from the leaves it kept and is cosigned again.
    w.set_faults(Faults::default());
    let cp = log.checkpoint(3);
    assert_cosigned(&s.publish(&cp), &cp, &keys);
    assert_eq!(w.requests(), vec![(0, 200), (4, 200)]);
}

#[test]
fn beyond_the_retained_leaves_the_sink_reports_it_cannot_prove() {
    let w = server();
    let keys = keys(&w);
    let mut log = Log::new(6);
    let mut s = sink(&w).max_retained_leaves(8);
    let first = log.checkpoint(4);
    assert_cosigned(&s.publish(&first), &first, &keys);
    w.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let gap = s.publish(&log.checkpoint(6));
    assert!(
        matches!(&gap[..], [SinkEvent::Unreachable { detail, .. }] if detail.contains("no cosignature")),
        "{gap:?}"
    );
    // 12 leaves past the witness's size 4, 8 kept: the sink says so, without asking.
    let events = s.publish(&log.checkpoint(6));
    let [SinkEvent::Unreachable { detail, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert!(detail.contains("cannot prove consistency"), "{detail}");
    assert!(detail.contains("max_retained_leaves"), "{detail}");
    // Once: the witness back up changes nothing, and nothing more is chained.
    w.set_faults(Faults::default());
    assert_eq!(s.publish(&log.checkpoint(3)), vec![]);
    assert_eq!(w.requests(), vec![(0, 200)]);
    assert_eq!(w.held(ORIGIN).unwrap().size, 4);
}

#[test]
fn an_ml_dsa_cosignature_line_is_ignored() {
    let w = server();
    let keys = keys(&w);
    w.set_faults(Faults {
        ml_dsa_line: true,
        ..Faults::default()
    });
    let mut log = Log::new(7);
    let mut s = sink(&w);
    let cp = log.checkpoint(6);
    assert_cosigned(&s.publish(&cp), &cp, &keys);
    // The served checkpoint carries the ML-DSA line too; fetching it still verifies.
    let fetched = fetch_latest(&w.url, ORIGIN, &keys, &log_signer().verifier()).unwrap();
    assert_eq!(fetched.matches('\u{2014}').count(), 3);
}

#[test]
fn a_refused_proof_is_a_conflict_naming_422() {
    let w = server();
    let mut honest = Log::new(8);
    let cp = honest.checkpoint(5);
    assert!(matches!(
        sink(&w).publish(&cp)[..],
        [SinkEvent::Cosignature { .. }]
    ));

    // Another history under the same origin and key (a rewritten log): 409 5, then the proof
    // from this history's tree at 5 does not lead from the root the witness holds.
    let mut forked = Log::new(9);
    forked.checkpoint(8);
    let mut s = sink(&w);
    let events = s.publish(&forked.fresh_checkpoint(8));
    let [
        SinkEvent::Conflict {
            ours,
            theirs,
            detail,
            ..
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*ours, *theirs), (8, 5));
    assert!(detail.contains("422"), "{detail}");
    assert_eq!(w.requests(), vec![(0, 200), (0, 409), (5, 422)]);
    assert_eq!(w.held(ORIGIN).unwrap().size, 5);
}

#[test]
fn a_checkpoint_whose_leaves_do_not_match_its_sizes_is_reported_not_sent() {
    let w = server();
    let mut log = Log::new(10);
    let mut cp = log.checkpoint(5);
    cp.leaves.pop();
    let events = sink(&w).publish(&cp);
    assert!(
        matches!(&events[..], [SinkEvent::Unreachable { detail, .. }] if detail.contains("carries 4 leaves")),
        "{events:?}"
    );
    assert_eq!(w.requests(), vec![]);
}
