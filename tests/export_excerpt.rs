//! Excerpt packs (filtered exports): what they hold, and that `verify_excerpt` catches edits,
//! deletions, reordering and a rewritten header.

mod common;

use std::path::{Path, PathBuf};

use acttrace::export::{ExportError, ExportOptions, Filter, Format, export_path, verify_excerpt};
use common::*;

fn excerpt(dir: &Path, filter: Filter, signed: bool) -> PathBuf {
    let log = synthetic_log(dir, signed);
    let out = dir.join(format!("ex-{signed}.jsonl"));
    let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
    opts.filter = filter;
    if signed {
        opts.key = Some(key());
    }
    let report = export_path(&log, &out, &opts).unwrap();
    assert!(report.excerpt);
    out
}

fn decision(id: &str) -> Filter {
    Filter {
        decision: Some(id.into()),
        ..Filter::default()
    }
}

fn seqs(path: &Path) -> Vec<u64> {
    entries(path)[1..]
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_decision_excerpt_holds_audit_open_and_the_decisions_entries() {
    let dir = tempfile::tempdir().unwrap();
    let out = excerpt(dir.path(), decision(D2), true);
    assert_eq!(seqs(&out), vec![0, 9, 10, 11, 12]);
    let meta = &entries(&out)[0]["_meta"];
    let ex = &meta["excerpt"];
    assert_eq!(ex["filter"]["decision"], D2);
    assert_eq!(ex["from_seq"], 0);
    assert_eq!(ex["to_seq"], 12);
    assert_eq!(ex["included"], 5);
    assert_eq!(ex["hash_alg"], "sha256");
    assert_eq!(ex["selected"].as_array().unwrap().len(), 5);
    assert_eq!(ex["sig"].as_str().unwrap().len(), 64);
    // head_hash/entries describe the source log.
    assert_eq!(meta["entries"], 15);
    assert_eq!(meta["summary"]["decisions"], 1);
    let v = verify_excerpt(&out, Some(&key())).unwrap();
    assert!(v.ok(), "{}", v.summary());
    assert_eq!(v.entries, 5);
    let v = verify_excerpt(&out, None).unwrap();
    assert!(v.ok(), "{}", v.summary());
    assert!(v.summary().contains("unauthenticated"));
}

#[test]
fn a_time_range_excerpt_is_contiguous_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filter {
        from: Some("2026-03-02".into()),
        to: Some("2026-03-02T10:00:02Z".into()),
        decision: None,
    };
    let out = excerpt(dir.path(), f, true);
    assert_eq!(seqs(&out), vec![0, 9, 10, 11]);
    assert!(verify_excerpt(&out, Some(&key())).unwrap().ok());
    // A date alone as --to covers the whole day.
    let f = Filter {
        to: Some("2026-03-01".into()),
        ..Filter::default()
    };
    let out = excerpt(dir.path(), f, false);
    assert_eq!(seqs(&out), (0..9).collect::<Vec<_>>());
    assert!(verify_excerpt(&out, None).unwrap().ok());
}

#[test]
fn an_excerpt_reaching_the_end_must_end_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filter {
        from: Some("2026-03-03".into()),
        ..Filter::default()
    };
    let out = excerpt(dir.path(), f, true);
    assert_eq!(seqs(&out), vec![0, 13, 14]);
    assert!(verify_excerpt(&out, Some(&key())).unwrap().ok());
}

fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_edited_entry_in_an_excerpt_fails() {
    for signed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let out = excerpt(dir.path(), decision(D1), signed);
        rewrite(&out, |l| {
            let i = l
                .iter()
                .position(|x| x.contains("\"type\": \"human_oversight\""))
                .unwrap();
            l[i] = l[i].replace("\"approved\"", "\"rejected\"");
        });
        let k = key();
        let v = verify_excerpt(&out, signed.then_some(&k)).unwrap();
        assert!(!v.ok());
        assert!(
            v.problems[0].starts_with("tampered entry at seq 7: hash mismatch"),
            "{:?}",
            v.problems
        );
    }
}

#[test]
fn deleting_reordering_or_rehashing_is_caught() {
    // Deleted entry: the links between adjacent entries and `selected` both see it.
    let dir = tempfile::tempdir().unwrap();
    let out = excerpt(dir.path(), decision(D1), true);
    rewrite(&out, |l| {
        l.remove(3);
    });
    let v = verify_excerpt(&out, Some(&key())).unwrap();
    assert!(
        v.problems.iter().any(|p| p.contains("excerpt altered")),
        "{:?}",
        v.problems
    );

    // Deleting a non-adjacent entry and fixing `selected` without the key: the excerpt
    // signature no longer matches.
    let out = excerpt(dir.path(), decision(D2), true);
    rewrite(&out, |l| {
        let removed: serde_json::Value = serde_json::from_str(&l[3]).unwrap();
        let h = removed["hash"].as_str().unwrap().to_owned();
        l.remove(3);
        l[0] = l[0]
            .replace(&format!(", [{}, \"{h}\"]", removed["seq"]), "")
            .replace("\"included\": 5", "\"included\": 4");
    });
    let v = verify_excerpt(&out, Some(&key())).unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.contains("forged _meta.excerpt")),
        "{:?}",
        v.problems
    );
    // ... and the link from seq 10 to seq 12 no longer exists, so without the key the cut
    // is only visible as a gap: the header is unauthenticated, as the summary says.
    let v = verify_excerpt(&out, None).unwrap();
    assert!(v.ok() && v.summary().contains("unauthenticated"));

    // Swapped entries.
    let out = excerpt(dir.path(), decision(D1), false);
    rewrite(&out, |l| l.swap(2, 3));
    let v = verify_excerpt(&out, None).unwrap();
    assert!(
        v.problems.iter().any(|p| p.contains("out of order")),
        "{:?}",
        v.problems
    );

    // An entry edited and re-hashed by someone without the key: the chain link to the next
    // adjacent entry breaks, and its signature fails.
    let out = excerpt(dir.path(), decision(D1), true);
    rewrite(&out, |l| {
        let mut e: serde_json::Value = serde_json::from_str(&l[2]).unwrap();
        e["payload"]["sources"] = "other.md".into();
        l[2] = serde_json::to_string(&e).unwrap();
    });
    let v = verify_excerpt(&out, Some(&key())).unwrap();
    assert!(!v.ok());
}

#[test]
fn a_full_log_is_not_an_excerpt_and_an_empty_selection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), false);
    let v = verify_excerpt(&log, None).unwrap();
    assert!(!v.ok() && v.problems[0].contains("not an excerpt pack"));
    let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
    opts.filter = decision("ffffffffffffffffffffffffffffffff");
    let err = export_path(&log, &dir.path().join("x.jsonl"), &opts).unwrap_err();
    assert!(matches!(err, ExportError::Usage(_)));
    assert!(err.to_string().contains("selects no entries"), "{err}");
    opts.filter = Filter {
        from: Some("yesterday".into()),
        ..Filter::default()
    };
    let err = export_path(&log, &dir.path().join("x.jsonl"), &opts).unwrap_err();
    assert!(err.to_string().contains("--from \"yesterday\""), "{err}");
}

#[test]
fn excerpts_are_deterministic_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let mut opts = ExportOptions::new("all", Format::Dir);
    opts.filter = decision(D1);
    opts.key = Some(key());
    export_path(&log, &dir.path().join("a"), &opts).unwrap();
    export_path(&log, &dir.path().join("b"), &opts).unwrap();
    for name in [
        "pack.jsonl",
        "assessment-results.oscal.json",
        "report.html",
        "controls.csv",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join("a").join(name)).unwrap(),
            std::fs::read(dir.path().join("b").join(name)).unwrap()
        );
    }
    assert!(
        verify_excerpt(&dir.path().join("a/pack.jsonl"), Some(&key()))
            .unwrap()
            .ok()
    );
}

#[test]
fn the_host_verifier_does_not_accept_an_excerpt() {
    // Documented limit: `acttrace verify` needs a contiguous chain from genesis; an excerpt with
    // a gap is reported as a broken link there and must be checked with `verify_excerpt`.
    let dir = tempfile::tempdir().unwrap();
    let out = excerpt(dir.path(), decision(D2), false);
    let v =
        acttrace::verify::verify_path(&out, &acttrace::verify::VerifyOptions::default()).unwrap();
    assert!(!v.ok());
    assert!(
        v.summary().contains("broken link at seq 9"),
        "{}",
        v.summary()
    );
}

#[test]
fn a_time_filter_outside_the_calendar_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), false);
    let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
    for (from, to, reason) in [
        (
            "2026-13-45",
            None,
            "--from \"2026-13-45\": month 13 is out of range (01-12)",
        ),
        (
            "2026-02-30",
            None,
            "--from \"2026-02-30\": day 30 is out of range for 2026-02 (01-28)",
        ),
        (
            "2026-03-02",
            Some("2026-03-02T24:00:00Z"),
            "--to \"2026-03-02T24:00:00Z\": hour 24 is out of range (00-23)",
        ),
    ] {
        opts.filter = Filter {
            from: Some(from.into()),
            to: to.map(str::to_owned),
            ..Filter::default()
        };
        let err = export_path(&log, &dir.path().join("x.jsonl"), &opts).unwrap_err();
        assert!(matches!(err, ExportError::Usage(_)), "{err}");
        assert!(err.to_string().contains(reason), "{err}");
    }
    assert!(!dir.path().join("x.jsonl").exists());
}
