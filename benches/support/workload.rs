//! The benchmark workload, shared by the benches and `examples/write_throughput.rs`: one
//! decision as the reference's `peer_bench.py` makes it (`decision`, `llm_call`, `tool_call`,
//! `decision_record`, `human_oversight`, `decision_end`: six entries), `i` varying its values.

/// Emits one decision of the workload.
pub fn decision(i: u64) {
    let d = tracing::info_span!(
        "decide",
        audit.decision = "loan",
        actor = "agent",
        applicant = i,
        amount = 1000 + i,
        note = "standard application"
    );
    let _e = d.enter();
    acttrace::llm_call!(
        provider = "openai",
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        cost = "0.0123 USD",
        latency_ms = 412.5
    );
    acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {i}}}"));
    d.record("note", "reviewed");
    acttrace::oversight!(reviewer = "ops@bank", action = "approved");
}
