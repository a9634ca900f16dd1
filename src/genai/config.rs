//! How GenAI spans are captured: the content modes, the digest key (derived, never the signing
//! key itself) and the keyed content digests, and the price table in force.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::PriceTable;
use crate::SigningKey;

/// What an entry keeps of a content field (a prompt, a response, tool arguments or results).
/// Redaction runs first in every mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentCapture {
    /// Not kept: the entry lists which content fields were left out (`content_omitted`). The
    /// default for messages, as in the reference.
    #[default]
    None,
    /// A keyed BLAKE3 digest of the (redacted) text and its length in bytes, so a disputed
    /// prompt can be proven later with [`GenAiCapture::content_digest`] without being stored.
    /// The key defeats dictionary attacks on short prompts.
    Digest,
    /// The text with every finding the policy detects removed, including categories the policy
    /// would only flag elsewhere.
    Redacted,
    /// The text as the log's redaction policy leaves it (flag-only categories stay visible).
    Full,
}

impl ContentCapture {
    /// The mode's name: `none`, `digest`, `redacted`, `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCapture::None => "none",
            ContentCapture::Digest => "digest",
            ContentCapture::Redacted => "redacted",
            ContentCapture::Full => "full",
        }
    }

    /// Parses a mode's name.
    pub fn parse(s: &str) -> Option<ContentCapture> {
        Some(match s {
            "none" => ContentCapture::None,
            "digest" => ContentCapture::Digest,
            "redacted" => ContentCapture::Redacted,
            "full" => ContentCapture::Full,
            _ => return None,
        })
    }
}

/// How GenAI spans are captured: content modes, the digest key and the price table.
///
/// ```
/// use acttrace::genai::{ContentCapture, GenAiCapture};
/// use acttrace::SigningKey;
/// let capture = GenAiCapture::default()
///     .messages(ContentCapture::Digest)
///     .digest_key(SigningKey::from_bytes("a key kept apart from the log").unwrap());
/// let d1 = capture.content_digest("What is the refund policy?").unwrap();
/// let d2 = capture.content_digest("What is the refund policy?").unwrap();
/// assert_eq!(d1, d2);
/// assert_eq!(d1.len(), 64);
/// ```
#[derive(Clone)]
pub struct GenAiCapture {
    messages: ContentCapture,
    tool_io: ContentCapture,
    prices: Arc<PriceTable>,
    digest_key: Option<Arc<Zeroizing<[u8; 32]>>>,
}

impl fmt::Debug for GenAiCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenAiCapture")
            .field("messages", &self.messages)
            .field("tool_io", &self.tool_io)
            .field("prices", &self.prices.version())
            .field(
                "digest_key",
                &self.digest_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for GenAiCapture {
    /// Messages not kept, tool arguments and results kept after redaction (as the reference
    /// records them), the embedded price table.
    fn default() -> Self {
        GenAiCapture {
            messages: ContentCapture::None,
            tool_io: ContentCapture::Full,
            prices: Arc::new(PriceTable::embedded().clone()),
            digest_key: None,
        }
    }
}

/// The BLAKE3 key-derivation context for content digests: a digest key never equals the
/// signing key it may be derived from.
const DIGEST_CONTEXT: &str = "acttrace 2026-11 gen_ai content digest";

impl GenAiCapture {
    /// What entries keep of `gen_ai.input.messages`, `gen_ai.output.messages` and
    /// `gen_ai.system_instructions` (and the deprecated `gen_ai.prompt`/`gen_ai.completion`),
    /// and of the other content a GenAI span may carry: retrieval queries and documents, memory
    /// queries and records, prompt variables, guardrail content, evaluation explanations.
    pub fn messages(mut self, mode: ContentCapture) -> Self {
        self.messages = mode;
        self
    }

    /// What entries keep of `gen_ai.tool.call.arguments` and `gen_ai.tool.call.result`.
    pub fn tool_io(mut self, mode: ContentCapture) -> Self {
        self.tool_io = mode;
        self
    }

    /// The price table for calls that report tokens but no cost.
    pub fn price_table(mut self, table: PriceTable) -> Self {
        self.prices = Arc::new(table);
        self
    }

    /// The key for [`ContentCapture::Digest`] (a BLAKE3 key is derived from it). Without one,
    /// digests are keyed from the log's signing key; a digest mode with neither is refused
    /// when the layer is built.
    pub fn digest_key(mut self, key: SigningKey) -> Self {
        self.digest_key = Some(Arc::new(derive_digest_key(&key)));
        self
    }

    /// The configured message mode.
    pub fn messages_mode(&self) -> ContentCapture {
        self.messages
    }

    /// The configured tool input/output mode.
    pub fn tool_io_mode(&self) -> ContentCapture {
        self.tool_io
    }

    /// The price table in force.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The keyed digest (64 hex digits) an entry records for `text` in
    /// [`ContentCapture::Digest`] mode, to prove a disputed prompt or response. `text` must be
    /// the content as the entry saw it after redaction (a text without findings is unchanged
    /// by redaction). `None` without a digest key.
    pub fn content_digest(&self, text: &str) -> Option<String> {
        let key = self.digest_key.as_ref()?;
        Some(crate::hex::to_hex(
            blake3::keyed_hash(key, text.as_bytes()).as_bytes(),
        ))
    }

    pub(crate) fn needs_digest_key(&self) -> bool {
        self.messages == ContentCapture::Digest || self.tool_io == ContentCapture::Digest
    }

    pub(crate) fn has_digest_key(&self) -> bool {
        self.digest_key.is_some()
    }

    pub(crate) fn set_digest_key_from(&mut self, key: &SigningKey) {
        self.digest_key = Some(Arc::new(derive_digest_key(key)));
    }
}

fn derive_digest_key(key: &SigningKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(DIGEST_CONTEXT, key.expose_bytes()))
}
