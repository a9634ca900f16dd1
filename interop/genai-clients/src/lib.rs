//! Interop tests for `acttrace` with real LLM client crates.
//!
//! The tests in `tests/` drive [`genai`](https://crates.io/crates/genai) 0.7 (feature `otel`)
//! and [`rig-core`/`rig-agent`](https://crates.io/crates/rig-core) 0.44 against
//! [`mock_openai::MockServer`], a local stand-in for the OpenAI Chat Completions API, inside
//! an acttrace decision, and check the chain entries acttrace makes from the clients'
//! `gen_ai.*` spans: `llm_call` entries with the model, token usage and exact cost,
//! `tool_call` entries with the tool name and call id, all attributed to the decision, and a
//! log that verifies with acttrace's verifier and with the reference verifier.
//!
//! The library itself is only the mock server, so that the tests and the example share it.
//! See the crate's README for how to run everything.

pub mod mock_openai;
