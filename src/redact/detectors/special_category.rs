//! The `special_category` detector: a GDPR Art. 9 keyword lexicon (health, biometric and
//! genetic data, ethnic origin, religion, sexual orientation, political opinions, trade-union
//! membership), with exclusions for technical vocabulary and personal cues for condition
//! names.

use super::Severity::Critical;
use super::{Def, Feature, Gate, SPECIAL, Span, context_before, gate};

pub(super) const SPECIAL_CATEGORY: Def = Def {
    category: "special_category",
    group: SPECIAL,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::SPECIAL),
    pattern: SPECIAL_PATTERN,
    validate: val_special,
    validator_name: Some("keyword lexicon + technical-context exclusions"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

const SPECIAL_PATTERN: &str = r"(?i-u)\b(?:diagnos(?:is|es|ed)|hiv(?:[ \-]?(?:positive|negative|status))?|pregnan(?:t|cy|cies)|disabilit(?:y|ies)|(?:medical|health|mental[ \-]health|psychiatric)[ \-](?:conditions?|history|records?|diagnosis|status|data|information|treatment)|mental[ \-]illness(?:es)?|cancer|diabet(?:es|ic)|chemotherapy|dementia|alzheimer'?s|tuberculosis|schizophreni(?:a|c)|bipolar[ \-]disorder|hepatitis[ \-][abc]|epilep(?:sy|tic)|autis(?:m|tic)|multiple[ \-]sclerosis|parkinson'?s|miscarriage|abortion|infertil(?:e|ity)|sexually[ \-]transmitted|std[ \-]test|biometrics?|fingerprints?|face[ \-]?prints?|facial[ \-](?:recognition|geometry|scan|template)|retina(?:l)?[ \-]scan|iris[ \-]scan|voice[ \-]?prints?|genetic|genome|genomic|genotype|dna[ \-](?:test|sample|profile|sequence|analysis)|brca[12]|ethnicity|ethnic[ \-](?:origin|background|group|minority)|racial(?:[ \-]origin)?|religions?|religious[ \-](?:beliefs?|affiliation|views|faith|practice|background|denomination)|(?:muslim|christian|jewish|hindu|buddhist|sikh|catholic|protestant|atheist)[ \-](?:faith|beliefs?)|sexual[ \-]orientation|sex[ \-]life|homosexual|heterosexual|bisexual|transgender|lesbian|lgbtq?|political[ \-](?:opinions?|affiliations?|views|beliefs|party[ \-]membership)|trade[ \-]union(?:[ \-]member(?:ship)?)?|union[ \-]member(?:ship)?|labou?r[ \-]union|philosophical[ \-]beliefs?)\b|\b(?:race|religious)[ \t]*[:=]";

// --------------------------------------------------------------- validator

/// Words before "fingerprint"/"genetic"/... that make it technical vocabulary.
const TECH_BEFORE: &[&str] = &[
    "key",
    "ssh",
    "certificate",
    "cert",
    "tls",
    "ssl",
    "gpg",
    "pgp",
    "sha1",
    "sha256",
    "sha-1",
    "sha-256",
    "md5",
    "browser",
    "device",
    "hash",
    "public",
    "host",
    "server",
    "code",
    "file",
    "build",
    "schema",
    "query",
    "content",
];
const TECH_AFTER: &[&str] = &[
    "algorithm",
    "algorithms",
    "programming",
    "operator",
    "operators",
    "of the key",
    "hash",
    "mismatch",
];

/// Condition names that need a personal cue.
const DISEASES: &[&str] = &[
    "cancer",
    "diabet",
    "chemotherapy",
    "dementia",
    "alzheimer",
    "tuberculosis",
    "schizophreni",
    "bipolar",
    "hepatitis",
    "epilep",
    "autis",
    "multiple",
    "parkinson",
    "miscarriage",
    "abortion",
    "infertil",
];
const DISEASE_CUES: &[&str] = &[
    "has ",
    "have ",
    "had ",
    "with ",
    "from ",
    "for ",
    "patient",
    "diagnos",
    "history of",
    "treated",
    "treatment",
    "suffer",
    "tested",
    "living",
    "is ",
    "was ",
    "her ",
    "his ",
    "their ",
];

fn val_special(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let kw = &text[s..e];
    let lower = kw.to_ascii_lowercase();
    // Technical vocabulary: "SSH key fingerprint", "genetic algorithm".
    let mut i = s;
    while i > 0 && t[i - 1] == b' ' {
        i -= 1;
    }
    let pe = i;
    while i > 0 && (t[i - 1].is_ascii_alphanumeric() || t[i - 1] == b'-') {
        i -= 1;
    }
    let prev = &t[i..pe];
    let mut r0 = e;
    while r0 < t.len() && t[r0] == b' ' {
        r0 += 1;
    }
    let rest = &t[r0..(r0 + 24).min(t.len())];
    let tech_word = lower.starts_with("fingerprint")
        || lower.starts_with("genetic")
        || lower.starts_with("genom")
        || lower.starts_with("biometric");
    if tech_word
        && (TECH_BEFORE
            .iter()
            .any(|w| w.as_bytes().eq_ignore_ascii_case(prev))
            || TECH_AFTER.iter().any(|w| {
                rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            }))
    {
        return;
    }
    // A condition name alone is a topic ("cancer research"); it is health data about a
    // person with a personal cue: "has cancer", "diagnosed with ...", "cancer patient".
    if DISEASES.iter().any(|d| lower.starts_with(d)) {
        let cue_before = context_before(text, s, 32, DISEASE_CUES);
        let cue_after = rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"patient");
        if !cue_before && !cue_after {
            return;
        }
    }
    // Label form: "religion: X", "diagnosed with X", "ethnicity is X" -> the value is the
    // sensitive part; report it (the label stays readable).
    let mut j = e;
    while j < t.len() && (t[j] == b' ' || t[j] == b'\t') {
        j += 1;
    }
    let mut vs = None;
    if lower.ends_with(':') || lower.ends_with('=') {
        vs = Some(e); // the pattern already consumed the separator
    } else if j < t.len() && (t[j] == b':' || t[j] == b'=') {
        vs = Some(j + 1);
    } else {
        for sep in ["is ", "was ", "are ", "with ", "of ", "as ", "for "] {
            if t.len() >= j + sep.len() && t[j..j + sep.len()].eq_ignore_ascii_case(sep.as_bytes())
            {
                vs = Some(j + sep.len());
                break;
            }
        }
    }
    if let Some(mut vs) = vs {
        while vs < t.len() && (t[vs] == b' ' || t[vs] == b'\t' || t[vs] == b'"' || t[vs] == b'\'') {
            vs += 1;
        }
        let limit = (vs + 80).min(t.len());
        let mut ve = vs;
        let mut words = 0;
        while ve < limit {
            let b = t[ve];
            if b"\n\r.,;!?\"()[]{}<>|".contains(&b) {
                break;
            }
            if b == b' ' {
                words += 1;
                if words >= 5 {
                    break;
                }
            }
            ve += 1;
        }
        while ve > vs && t[ve - 1] == b' ' {
            ve -= 1;
        }
        // Only letters make a value ("diagnosis: 2024" is a date, still flag the keyword).
        if ve > vs && t[vs..ve].iter().any(u8::is_ascii_alphabetic) {
            out.push((s, ve));
            return;
        }
    }
    out.push((s, e));
}
