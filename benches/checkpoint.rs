//! Cost of the checkpoint machinery (issue #13), next to a baseline measured in the same run:
//! one SHA-256 of 64 bytes, the unit every tree operation is made of.
//!
//! `cargo bench --bench checkpoint -- --quick`
//!
//! - the tree's running cost on the sequencer: `Frontier::append` per entry and
//!   `Frontier::root` at 1M leaves;
//! - proofs at 1,000,000 leaves, generated from the leaves (`inclusion_proof`,
//!   `consistency_proof`, `root_of`: the whole tree is rehashed, as a verifier with only the log
//!   does) and verified;
//! - an Ed25519 checkpoint note: signing and verifying.
//!
//! Proof sizes are printed once (and asserted: an inclusion proof at 1M leaves is 20 hashes).

use std::hint::black_box;

use acttrace::checkpoint::{
    Checkpoint, Frontier, SignerKey, consistency_proof, inclusion_proof, root_of,
    verify_consistency, verify_inclusion, verify_note,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const LEAVES: u64 = 1_000_000;
const OLD: u64 = 600_000;

fn leaves(n: u64) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| Sha256::digest(i.to_le_bytes()).into())
        .collect()
}

fn bench(c: &mut Criterion) {
    let all = leaves(LEAVES);
    let root = root_of(&all);
    let old_root = root_of(&all[..OLD as usize]);
    let incl = inclusion_proof(&all, 0, LEAVES).unwrap();
    let cons = consistency_proof(&all, OLD, LEAVES).unwrap();
    assert_eq!(
        incl.len(),
        20,
        "an inclusion proof at 1M leaves is 20 hashes"
    );
    println!(
        "proof sizes at {LEAVES} leaves: inclusion {} hashes = {} bytes; consistency {OLD} -> \
         {LEAVES} {} hashes = {} bytes",
        incl.len(),
        incl.len() * 32,
        cons.len(),
        cons.len() * 32
    );

    let mut g = c.benchmark_group("baseline");
    let block = [7u8; 64];
    g.bench_function("sha256_64_bytes", |b| {
        b.iter(|| Sha256::digest(black_box(&block)))
    });
    g.finish();

    let mut g = c.benchmark_group("frontier");
    let mut frontier = Frontier::new();
    for leaf in &all {
        frontier.append(leaf);
    }
    // 1,024 appends to the 1M-leaf frontier: the per-entry cost averaged over the merges
    // (one leaf hash plus, on average, one node hash); criterion's elements/s is per entry.
    g.throughput(Throughput::Elements(1024));
    g.bench_function("append_1024_entries", |b| {
        b.iter_batched_ref(
            || frontier.clone(),
            |f| {
                for leaf in &all[..1024] {
                    f.append(black_box(leaf));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("root_at_1M", |b| b.iter(|| black_box(&frontier).root()));
    g.finish();

    // Each iteration hashes the whole million-leaf tree: few samples.
    let mut g = c.benchmark_group("tree_1M");
    g.sample_size(10);
    g.bench_function("root_of", |b| b.iter(|| root_of(black_box(&all))));
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| inclusion_proof(black_box(&all), 123_456, LEAVES).unwrap())
    });
    g.bench_function("consistency_proof", |b| {
        b.iter(|| consistency_proof(black_box(&all), OLD, LEAVES).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("verify_1M");
    g.bench_function("inclusion", |b| {
        b.iter(|| verify_inclusion(&all[0], 0, LEAVES, black_box(&incl), &root).unwrap())
    });
    g.bench_function("consistency", |b| {
        b.iter(|| verify_consistency(OLD, LEAVES, &old_root, &root, black_box(&cons)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("note");
    let origin = "bench.example/log";
    let signer = SignerKey::from_seed(origin, Zeroizing::new([9u8; 32])).unwrap();
    let keys = [signer.verifier()];
    let body = Checkpoint::new(origin, LEAVES, root).unwrap().body();
    let note = signer.sign(&body).unwrap();
    g.bench_function("sign_ed25519", |b| {
        b.iter(|| signer.sign(black_box(&body)).unwrap())
    });
    g.bench_function("verify_ed25519", |b| {
        b.iter(|| verify_note(black_box(&note), &keys).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
