//! The JSONL writer signing the lines the sequencer leaves unsigned: on its write thread for a
//! batch of several blocks, at commit for a small one, never writing a line it could not sign.

use std::path::Path;

use super::JsonlFileWriter;
use crate::chain::{GENESIS, HashAlg, LineSigner, SealedEntry, Sealer, SigningKey};
use crate::json::Value;
use crate::verify::{VerifyOptions, verify_path};
use crate::writer::background::BLOCK_BYTES;
use crate::writer::{ChainWriter, Durability};

const KEY: &str = "jsonl-signer-key-0123";

fn key() -> SigningKey {
    SigningKey::from_bytes(KEY).unwrap()
}

/// Seals entries `first..first + count` onto `prev` with `sealer`, appending each to `writer`
/// as the sequencer does; returns the new head.
fn append(
    writer: &mut JsonlFileWriter,
    sealer: &mut Sealer,
    first: u64,
    count: u64,
    prev: &str,
) -> String {
    let mut prev = prev.to_owned();
    for seq in first..first + count {
        let (kind, payload) = if seq == 0 {
            (
                "audit_open",
                Value::Object(vec![
                    ("system".into(), "signing-writer".into()),
                    ("risk_tier".into(), "limited".into()),
                    ("format".into(), "acttrace-chain/1".into()),
                    ("producer".into(), "tests".into()),
                ]),
            )
        } else {
            (
                "tool_call",
                Value::Object(vec![
                    ("name".into(), "bulk".into()),
                    ("i".into(), Value::from(seq)),
                    ("padding".into(), Value::from("z".repeat(200).as_str())),
                ]),
            )
        };
        let entry = sealer.seal(
            seq,
            "2026-12-01T00:00:00.000000+00:00",
            kind,
            &payload,
            None,
            &prev,
        );
        writer.append_rendered(&entry);
        prev = entry.hash().to_owned();
    }
    prev
}

/// A writer opened on `path`, an empty file or none, for a log signed with [`key`].
fn opened(path: &Path) -> JsonlFileWriter {
    let mut writer = JsonlFileWriter::new(path);
    assert!(writer.open(Some(&key())).unwrap().is_none());
    writer
}

/// A sealer that leaves signatures to the writer.
fn leaving() -> Sealer {
    let mut sealer = Sealer::for_log(HashAlg::Sha256, Some(&key()));
    sealer.leave_signing_to_writer();
    sealer
}

fn verify_signed(path: &Path, entries: u64, head: &str) {
    let report = verify_path(
        path,
        &VerifyOptions {
            key: Some(key()),
            expected_head: Some(head.to_owned()),
            expect_entries: Some(entries),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(report.ok(), "{}: {:?}", report.summary(), report.problems);
    assert_eq!(report.entries, entries);
    assert_eq!(report.unsigned_entries, 0);
}

#[test]
fn lines_left_unsigned_are_signed_on_the_write_thread_and_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut writer = opened(&path);
    assert!(writer.sign_lines(&LineSigner::new(&key())));
    let mut sealer = leaving();
    // About 400 bytes a line: several blocks, handed to the write thread as they fill.
    let entries = 3 * BLOCK_BYTES as u64 / 400;
    let head = append(&mut writer, &mut sealer, 0, entries, GENESIS);
    assert!(writer.handed_over > 0, "no block went to the write thread");
    writer.commit(Durability::Synced).unwrap();
    // A batch smaller than a block is signed on the committing thread.
    let head = append(&mut writer, &mut sealer, entries, 3, &head);
    assert!(writer.handed_over == 0 && !writer.batch.is_empty());
    writer.commit(Durability::Synced).unwrap();
    verify_signed(&path, entries + 3, &head);
}

#[test]
fn a_line_awaiting_its_signature_without_a_signer_fails_its_commit_and_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut writer = opened(&path);
    // The writer never took a signer, yet is handed lines that await one: a small batch, then
    // one of several blocks.
    let mut sealer = leaving();
    for count in [3, 3 * BLOCK_BYTES as u64 / 400] {
        let head = append(&mut writer, &mut sealer, 0, count, GENESIS);
        let err = writer.commit(Durability::Synced).unwrap_err();
        assert!(err.to_string().contains("awaits its signature"), "{err}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "after {count}");
        assert_eq!(writer.committed_len(), 0);
        // Nothing of the failed batch stays behind: a signed batch commits after it.
        let mut signing = Sealer::for_log(HashAlg::Sha256, Some(&key()));
        let signed_head = append(&mut writer, &mut signing, 0, 2, GENESIS);
        writer.commit(Durability::Synced).unwrap();
        verify_signed(&path, 2, &signed_head);
        assert_ne!(head, signed_head);
        std::fs::File::create(&path).unwrap();
        // The old writer lets go of the file's lock before the new one takes it.
        drop(writer);
        writer = opened(&path);
    }
}

#[test]
fn entries_appended_signed_are_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut writer = opened(&path);
    assert!(writer.sign_lines(&LineSigner::new(&key())));
    // Owned entries, signed by the caller, between lines left to the writer.
    let mut sealer = leaving();
    let head = append(&mut writer, &mut sealer, 0, 2, GENESIS);
    let owned = SealedEntry::seal(
        HashAlg::Sha256,
        Some(&key()),
        2,
        "2026-12-01T00:00:00.000000+00:00".into(),
        "note".into(),
        Value::Object(vec![("by".into(), "caller".into())]),
        head,
    );
    writer.append(&owned);
    let head = append(&mut writer, &mut sealer, 3, 2, &owned.hash);
    writer.commit(Durability::Synced).unwrap();
    verify_signed(&path, 5, &head);
}
