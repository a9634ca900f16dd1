//! What an excerpt pack's checkpoint lets a verifier prove, checked as the entries stream by:
//! membership (every entry's tlog proof leads to the checkpoint's root, and the checkpoint is
//! signed by a verifier key), the origin (the `audit_open` at seq 0, proven like any entry,
//! names the checkpoint's origin), and completeness (a decision's entries in the excerpt are
//! exactly those its `decision_end` digests, and the checkpoint reaches that `decision_end`;
//! a time-range excerpt has no hole). See `docs/EXPORT.md` §5.
//!
//! With verifier keys every requirement applies and anything unproven is a problem
//! ("incomplete: ..."); without, the facts in the pack are still checked (a proof that does not
//! lead to the pack's root, a digest that does not match) and what could not be proven is
//! listed in [`ExcerptVerification::not_checked`].

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, TlogProof, VerifierKey, verify_note};
use crate::hex::{from_hex64, to_hex};
use crate::json::Value;

use super::Filter;
use super::excerpt::{ExcerptVerification, TimeBounds};
use super::log::LogEntry;

/// The most decisions (the excerpted one and those nested in it) whose completeness is
/// tracked, about 200 bytes each: memory stays bounded whatever the pack holds.
pub(super) const MAX_TRACKED_DECISIONS: usize = 1 << 20;

/// One decision's digest over the excerpt's entries so far.
#[derive(Default)]
struct Running {
    hasher: Sha256,
    count: u64,
}

/// The checks, fed one entry at a time.
pub(super) struct ProofChecks<'k> {
    /// With keys, every requirement applies.
    vkeys: &'k [VerifierKey],
    /// The pack's checkpoint note, when it carries one.
    note: Option<String>,
    /// Why the pack carries none (`_meta.excerpt.checkpoint_missing`).
    missing: Option<String>,
    /// The checkpoint's body: verified with a key when keys are given, else as the note says.
    checkpoint: Option<Checkpoint>,
    decision: Option<String>,
    bounds: Option<TimeBounds>,
    /// The excerpted decision and those nested in it, as their openings are seen.
    ids: HashSet<String>,
    running: HashMap<String, Running>,
    /// Decisions whose `decision_end` was seen, with how many entries it digested.
    ended: HashMap<String, u64>,
    /// Set once more decisions than [`MAX_TRACKED_DECISIONS`] were met.
    overflow: bool,
    /// The `audit_open` at seq 0 (seen), and the origin it declares.
    origin: Option<Option<String>>,
    /// The last seq after seq 0, for a time-range excerpt's contiguity.
    last_seq: Option<u64>,
}

impl<'k> ProofChecks<'k> {
    /// Reads the header's `_meta.excerpt` (filter and checkpoint); verifies the checkpoint's
    /// note with `vkeys` when given.
    pub(super) fn new(
        ex: &Value,
        vkeys: &'k [VerifierKey],
        out: &mut ExcerptVerification,
    ) -> ProofChecks<'k> {
        let filter = ex.get("filter");
        let text = |k: &str| {
            filter
                .and_then(|f| f.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let filter = Filter {
            from: text("from"),
            to: text("to"),
            decision: text("decision"),
        };
        let bounds = match TimeBounds::parse(&filter) {
            Ok(b) => Some(b),
            Err(e) => {
                out.problem(format!("_meta.excerpt.filter: {e}"));
                None
            }
        };
        let mut checks = ProofChecks {
            vkeys,
            note: None,
            missing: None,
            checkpoint: None,
            ids: filter.decision.iter().cloned().collect(),
            decision: filter.decision,
            bounds,
            running: HashMap::new(),
            ended: HashMap::new(),
            overflow: false,
            origin: None,
            last_seq: None,
        };
        match ex.get("checkpoint") {
            None => {}
            Some(Value::Null) => {
                checks.missing = Some(
                    ex.get("checkpoint_missing")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                        .to_owned(),
                );
            }
            Some(cp) => match cp.get("note").and_then(Value::as_str) {
                None => out.problem("_meta.excerpt.checkpoint has no note".into()),
                Some(note) => {
                    checks.note = Some(note.to_owned());
                    checks.checkpoint = checks.read_note(note, out);
                    out.checkpoint_size = checks.checkpoint.as_ref().map(|c| c.size);
                }
            },
        }
        checks
    }

    /// The checkpoint's body: with keys, only when one of them signed it and is named for its
    /// origin; without, as the note states it.
    fn read_note(&self, note: &str, out: &mut ExcerptVerification) -> Option<Checkpoint> {
        if self.vkeys.is_empty() {
            let body = note
                .find("\n\n")
                .and_then(|i| Checkpoint::parse_body(&note[..i + 1]).ok());
            if body.is_none() {
                out.problem("_meta.excerpt.checkpoint: the note is not a checkpoint".into());
            }
            return body;
        }
        let verified = match verify_note(note, self.vkeys) {
            Ok(v) => v,
            Err(e) => {
                out.problem(format!(
                    "checkpoint not verified: {e} (the pack's checkpoint is not signed by the \
                     log key given with --vkey)"
                ));
                return None;
            }
        };
        let body = match Checkpoint::parse_body(&verified.text) {
            Ok(b) => b,
            Err(e) => {
                out.problem(format!("checkpoint: {e}"));
                return None;
            }
        };
        match verified
            .verified_by
            .iter()
            .find(|k| k.name() == body.origin)
        {
            Some(k) => out.checkpoint_key = Some(k.to_string()),
            None => {
                out.problem(format!(
                    "checkpoint not verified: it is signed by {}, not by a key named for its \
                     origin {}",
                    verified
                        .verified_by
                        .iter()
                        .map(|k| k.name().to_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    body.origin
                ));
                return None;
            }
        }
        Some(body)
    }

    fn strict(&self) -> bool {
        !self.vkeys.is_empty()
    }

    /// Checks one entry of the excerpt, with its `tlog_proof` member when it has one.
    pub(super) fn entry(
        &mut self,
        e: &LogEntry,
        proof: Option<&str>,
        line: u64,
        out: &mut ExcerptVerification,
    ) {
        self.proof(e, proof, line, out);
        if e.seq == 0 && e.kind == "audit_open" {
            self.origin = Some(e.payload_str("origin").map(str::to_owned));
            return;
        }
        if let Some(b) = &self.bounds
            && !b.contains(&e.ts)
        {
            out.problem(format!(
                "seq {} (ts {}) is outside the excerpt's time range (line {line})",
                e.seq, e.ts
            ));
        }
        if self.decision.is_some() {
            self.member(e, line, out);
        } else if self.strict() {
            if let Some(prev) = self.last_seq
                && e.seq > prev + 1
            {
                out.problem(format!(
                    "incomplete: seq {}..{} are missing between the excerpt's entries at seq \
                     {prev} and seq {} (line {line})",
                    prev + 1,
                    e.seq - 1,
                    e.seq
                ));
            }
            self.last_seq = Some(e.seq);
        }
    }

    /// The entry's inclusion proof, against the pack's checkpoint.
    fn proof(&self, e: &LogEntry, proof: Option<&str>, line: u64, out: &mut ExcerptVerification) {
        let Some(note) = &self.note else {
            return;
        };
        let Some(text) = proof else {
            out.problem(format!(
                "seq {}: no inclusion proof (tlog_proof) in a pack that carries a checkpoint \
                 (line {line})",
                e.seq
            ));
            return;
        };
        let p = match TlogProof::parse(text) {
            Ok(p) => p,
            Err(err) => {
                out.problem(format!("seq {}: {err} (line {line})", e.seq));
                return;
            }
        };
        if p.index != e.seq {
            out.problem(format!(
                "seq {}: its tlog proof is for index {} (line {line})",
                e.seq, p.index
            ));
            return;
        }
        if p.checkpoint != *note {
            out.problem(format!(
                "seq {}: its tlog proof is against another checkpoint than \
                 _meta.excerpt.checkpoint (line {line})",
                e.seq
            ));
            return;
        }
        let Some(cp) = &self.checkpoint else {
            return;
        };
        if e.seq >= cp.size {
            out.problem(format!(
                "seq {} is past the checkpoint (tree size {}): not proven included (line {line})",
                e.seq, cp.size
            ));
            return;
        }
        // A hash that is not hex was reported as tampered already.
        if let Some(leaf) = from_hex64(e.hash.as_bytes()) {
            match p.verify_against(&leaf, cp) {
                Ok(()) => out.proven += 1,
                Err(err) => out.problem(format!(
                    "seq {}: not proven included in the checkpoint: {err} (line {line})",
                    e.seq
                )),
            }
        }
    }

    /// A decision excerpt: the entry belongs to the decision (or one nested in it), and each
    /// decision's entries are digested up to its `decision_end`, which must state the same.
    fn member(&mut self, e: &LogEntry, line: u64, out: &mut ExcerptVerification) {
        let own = e.decision_id().map(str::to_owned);
        let parent = (e.kind == "decision")
            .then(|| e.payload_str("parent_decision_id"))
            .flatten()
            .map(str::to_owned);
        if let (Some(own), Some(p)) = (&own, &parent)
            && self.ids.contains(p)
            && !self.ids.contains(own)
        {
            if self.ids.len() >= MAX_TRACKED_DECISIONS {
                if !self.overflow {
                    self.overflow = true;
                    out.problem(format!(
                        "more than {MAX_TRACKED_DECISIONS} decisions nested in decision {}: \
                         the rest cannot be checked (line {line})",
                        self.decision.as_deref().unwrap_or_default()
                    ));
                }
                return;
            }
            self.ids.insert(own.clone());
        }
        let Some(own) = own.filter(|id| self.ids.contains(id)) else {
            out.problem(format!(
                "seq {} belongs to {}, not to decision {} or one nested in it (line {line})",
                e.seq,
                e.decision_id()
                    .map_or_else(|| "no decision".to_owned(), |d| format!("decision {d}")),
                self.decision.as_deref().unwrap_or_default()
            ));
            return;
        };
        if !self.running.contains_key(&own) && !self.ended.contains_key(&own) {
            self.running.insert(own.clone(), Running::default());
        }
        if e.kind == "decision_end" && self.running.contains_key(&own) {
            self.end(&own, e, line, out);
            return;
        }
        for id in [Some(&own), parent.as_ref()].into_iter().flatten() {
            if let Some(r) = self.running.get_mut(id) {
                r.hasher.update(e.seq.to_be_bytes());
                // A hash that is not hex was reported as tampered already; it digests as
                // zeros, which no honest digest matches.
                r.hasher
                    .update(from_hex64(e.hash.as_bytes()).unwrap_or_default());
                r.count += 1;
            }
        }
    }

    /// A decision's `decision_end`: its stated digest and count against the excerpt's.
    fn end(&mut self, id: &str, e: &LogEntry, line: u64, out: &mut ExcerptVerification) {
        let r = self.running.remove(id).unwrap_or_default();
        let count = r.count;
        let digest = to_hex(&r.hasher.finalize());
        let stated = (
            e.payload_str("entries_digest"),
            e.payload.get("entries_count").and_then(Value::as_u64),
        );
        match stated {
            (Some(d), Some(n)) => {
                if n != count {
                    out.problem(format!(
                        "incomplete: decision {id}: its decision_end (seq {}) counts {n} \
                         entries, the excerpt holds {count} of them (line {line})",
                        e.seq
                    ));
                } else if d != digest {
                    out.problem(format!(
                        "incomplete: decision {id}: its {count} entries in the excerpt are not \
                         those its decision_end (seq {}) digests (entries_digest differs: one \
                         was replaced) (line {line})",
                        e.seq
                    ));
                }
            }
            _ if self.strict() => out.problem(format!(
                "incomplete: decision {id}: its decision_end (seq {}) states no \
                 entries_digest/entries_count (written before they existed), so the excerpt \
                 cannot be proven complete (line {line})",
                e.seq
            )),
            _ => out.not_checked.push(format!(
                "completeness of decision {id}: its decision_end states no entries_digest"
            )),
        }
        if let Some(cp) = &self.checkpoint
            && cp.size <= e.seq
        {
            out.problem(format!(
                "incomplete: the checkpoint's tree size {} does not reach decision {id}'s \
                 decision_end at seq {}: a checkpoint past it is needed (line {line})",
                cp.size, e.seq
            ));
        }
        self.ended.insert(id.to_owned(), count);
    }

    /// What the whole excerpt showed: decisions left open, the origin, a missing checkpoint.
    pub(super) fn finish(self, out: &mut ExcerptVerification) {
        let strict = self.strict();
        if let Some(d) = &self.decision {
            if !self.running.contains_key(d) && !self.ended.contains_key(d) {
                out.problem(format!(
                    "incomplete: no entry of decision {d} is in the excerpt"
                ));
            }
            let mut open: Vec<&String> = self.running.keys().collect();
            open.sort();
            for id in open {
                let msg = format!(
                    "decision {id}: its decision_end is not in the excerpt (the decision is \
                     still open, or its end was left out), so its completeness cannot be proven"
                );
                if strict {
                    out.problem(format!("incomplete: {msg}"));
                } else {
                    out.not_checked.push(msg);
                }
            }
            if let Some(n) = self.ended.get(d) {
                out.completeness = Some(format!(
                    "decision {d} complete: {n} entries as its decision_end states{}",
                    match self.ended.len() - 1 {
                        0 => String::new(),
                        k => format!(", and {k} nested decision(s)"),
                    }
                ));
            }
        } else if self.last_seq.is_some() {
            out.completeness = Some("no entry missing between the excerpt's first and last".into());
        }
        match (&self.checkpoint, &self.origin) {
            (Some(cp), Some(Some(o))) if *o != cp.origin => out.problem(format!(
                "audit_open (seq 0) names origin {o}, the checkpoint is for origin {}: it is \
                 another log's",
                cp.origin
            )),
            (Some(cp), Some(None)) if strict => out.problem(format!(
                "audit_open (seq 0) declares no origin, so the checkpoint (origin {}) is not \
                 proven to be this log's",
                cp.origin
            )),
            (Some(cp), None) if strict => out.problem(format!(
                "incomplete: the excerpt lacks the audit_open at seq 0, so the checkpoint \
                 (origin {}) is not proven to be this log's",
                cp.origin
            )),
            _ => {}
        }
        let why = |missing: &Option<String>| {
            missing
                .as_deref()
                .map_or(String::new(), |m| format!(" ({m})"))
        };
        if self.note.is_none() {
            let msg = format!(
                "membership and completeness: the pack carries no checkpoint{}",
                why(&self.missing)
            );
            if strict {
                out.problem(format!("incomplete: {msg}"));
            } else {
                out.not_checked.push(msg);
            }
        } else if !strict {
            out.not_checked.push(
                "the checkpoint's signature (no --vkey): the inclusion proofs were checked \
                 against an unauthenticated root, so membership and completeness are unproven"
                    .into(),
            );
        }
        out.vkeys_checked = strict;
    }
}
