//! Interop tests for acttrace with real LLM client crates (see tests/).
