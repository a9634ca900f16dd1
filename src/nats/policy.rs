//! What makes a stream append-only in practice, checked by the writer at open, and the admin
//! step that creates such a stream.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Conn, NatsClientOptions, validate_stream, validate_subject};
use crate::error::Error;

/// Checks a stream's configuration (the `config` of a `STREAM.INFO` answer) and lists every
/// setting that would let entries disappear: memory storage, a retention other than `limits`
/// (interest and work-queue streams delete what is consumed), any message/byte/per-subject
/// limit with `discard: old` (one host's flood would expire other chains), a `max_age` below
/// `min_max_age`, rollups or per-message TTLs allowed, mirrors or sources, and `deny_delete` or
/// `deny_purge` off. `Ok` when there is nothing to list.
pub fn check_append_only(config: &Value, min_max_age: Duration) -> Result<(), Vec<String>> {
    let mut why = Vec::new();
    let s = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
    let flag = |k: &str| config.get(k).and_then(Value::as_bool).unwrap_or(false);
    let limit = |k: &str| config.get(k).and_then(Value::as_i64).unwrap_or(0);
    if s("storage") != "file" {
        why.push(format!(
            "storage is {:?}, not \"file\" (a restart loses memory storage)",
            s("storage")
        ));
    }
    if s("retention") != "limits" {
        why.push(format!(
            "retention is {:?}, not \"limits\" (interest and work-queue streams delete \
             consumed messages)",
            s("retention")
        ));
    }
    if s("discard") != "new" {
        for k in ["max_msgs", "max_bytes", "max_msgs_per_subject"] {
            if limit(k) > 0 {
                why.push(format!(
                    "{k} is {} with discard {:?}: reaching it expires old entries (of every \
                     chain); use discard \"new\" or no limit",
                    limit(k),
                    s("discard")
                ));
            }
        }
    }
    let max_age = limit("max_age");
    if max_age > 0 && (max_age as u128) < min_max_age.as_nanos() {
        why.push(format!(
            "max_age is {} days, below the retention period of {} days",
            max_age as u128 / 86_400_000_000_000,
            min_max_age.as_secs() / 86_400
        ));
    }
    for (k, what) in [
        (
            "allow_rollup_hdrs",
            "rollups are allowed (a rollup deletes a subject's history)",
        ),
        ("allow_msg_ttl", "per-message TTLs are allowed"),
    ] {
        if flag(k) {
            why.push(format!("{k} is true: {what}"));
        }
    }
    if config.get("mirror").is_some_and(|m| !m.is_null()) {
        why.push("the stream is a mirror (its content follows another stream)".into());
    }
    if config
        .get("sources")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        why.push("the stream has sources (other streams write into it)".into());
    }
    for k in ["deny_delete", "deny_purge"] {
        if !flag(k) {
            why.push(format!("{k} is off: messages can be deleted"));
        }
    }
    if why.is_empty() { Ok(()) } else { Err(why) }
}

/// The settings of a stream made by [`init_stream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSettings {
    /// The stream's name.
    pub name: String,
    /// The subjects it takes (by default `acttrace.>`).
    pub subjects: Vec<String>,
    /// Replicas (3 in production; 1 for a single server).
    pub replicas: u32,
    /// `max_bytes` with `discard: new` (the stream refuses new entries when full, it never
    /// expires old ones); `None` for no limit.
    pub max_bytes: Option<u64>,
}

impl StreamSettings {
    /// A stream `name` on `acttrace.>` with one replica and no size limit.
    pub fn new(name: impl Into<String>) -> StreamSettings {
        StreamSettings {
            name: name.into(),
            subjects: vec!["acttrace.>".into()],
            replicas: 1,
            max_bytes: None,
        }
    }

    /// The checkpoint stream `name` on `acttrace-checkpoints.>`
    /// ([`NatsCheckpointSink`](super::NatsCheckpointSink)), one replica, no size limit: the
    /// same append-only settings as the entry stream's.
    pub fn checkpoints(name: impl Into<String>) -> StreamSettings {
        StreamSettings {
            subjects: vec![format!("{}.>", super::CHECKPOINT_SUBJECT_PREFIX)],
            ..StreamSettings::new(name)
        }
    }
}

/// The append-only stream configuration [`init_stream`] creates: file storage, `limits`
/// retention, `discard: new`, no age limit, deny_delete, deny_purge, no rollups.
pub fn stream_config(settings: &StreamSettings) -> Value {
    json!({
        "name": settings.name,
        "subjects": settings.subjects,
        "retention": "limits",
        "storage": "file",
        "discard": "new",
        "max_consumers": -1,
        "max_msgs": -1,
        "max_bytes": settings.max_bytes.map_or(-1, |b| b as i64),
        "max_age": 0,
        "max_msgs_per_subject": -1,
        "max_msg_size": -1,
        "num_replicas": settings.replicas,
        "duplicate_window": 120_000_000_000u64,
        "deny_delete": true,
        "deny_purge": true,
        "allow_rollup_hdrs": false,
    })
}

/// The admin step (`acttrace nats init`): creates the stream with [`stream_config`], or checks
/// an existing one with [`check_append_only`]. Returns the stream's info. Writers never create
/// streams: they need only publish on their subject and read the stream.
pub fn init_stream(
    url: &str,
    client: &NatsClientOptions,
    settings: &StreamSettings,
) -> Result<Value, Error> {
    validate_stream(&settings.name)?;
    for s in &settings.subjects {
        // Wildcards are allowed here (a stream takes `acttrace.>`), so only their shape is
        // checked: tokens are safe or a wildcard.
        let plain = s.replace(".*", ".x").replace(".>", ".x");
        validate_subject(&plain)?;
    }
    let conn = Conn::connect(url, client)?;
    let name = &settings.name;
    let created = conn.api(
        &format!("$JS.API.STREAM.CREATE.{name}"),
        &stream_config(settings),
    );
    let info = match created {
        Ok(info) => info,
        // 10058: a stream of that name exists with another configuration.
        Err(super::conn::ApiFailure::Api {
            err_code: 10058, ..
        }) => conn
            .stream_info(name, false)
            .map_err(|e| super::nats_error("read", &format!("{url}/{name}"), e))?,
        Err(e) => {
            return Err(super::nats_error("create", &format!("{url}/{name}"), e));
        }
    };
    check_append_only(&info["config"], Duration::ZERO).map_err(|why| {
        Error::Incompatible(format!(
            "NATS stream {name} exists and is not append-only: {}",
            why.join("; ")
        ))
    })?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        stream_config(&StreamSettings::new("AUDIT"))
    }

    #[test]
    fn the_streams_we_create_pass_the_check() {
        assert_eq!(
            check_append_only(&good(), super::super::MIN_MAX_AGE),
            Ok(())
        );
        let mut bounded = good();
        bounded["max_bytes"] = json!(1 << 30); // discard new: refuses new entries when full
        assert_eq!(check_append_only(&bounded, Duration::ZERO), Ok(()));
    }

    #[test]
    fn every_setting_that_lets_entries_go_is_named() {
        let six_months = super::super::MIN_MAX_AGE;
        let cases: &[(&str, Value, &str)] = &[
            ("storage", json!("memory"), "storage"),
            ("retention", json!("workqueue"), "retention"),
            ("deny_delete", json!(false), "deny_delete"),
            ("deny_purge", json!(false), "deny_purge"),
            ("allow_rollup_hdrs", json!(true), "rollup"),
            ("allow_msg_ttl", json!(true), "TTL"),
            ("mirror", json!({"name": "X"}), "mirror"),
            ("sources", json!([{"name": "X"}]), "sources"),
            ("max_age", json!(86_400_000_000_000u64), "max_age"),
        ];
        for (k, v, word) in cases {
            let mut c = good();
            c[*k] = v.clone();
            let why = check_append_only(&c, six_months).unwrap_err();
            assert_eq!(why.len(), 1, "{k}: {why:?}");
            assert!(why[0].contains(word), "{k}: {why:?}");
        }
        for k in ["max_msgs", "max_bytes", "max_msgs_per_subject"] {
            let mut c = good();
            c["discard"] = json!("old");
            c[k] = json!(1000);
            let why = check_append_only(&c, six_months).unwrap_err();
            assert!(why[0].contains(k) && why[0].contains("discard"), "{why:?}");
        }
        // discard old without any limit expires nothing.
        let mut c = good();
        c["discard"] = json!("old");
        assert_eq!(check_append_only(&c, six_months), Ok(()));
        // A long enough max_age is fine.
        let mut c = good();
        c["max_age"] = json!(six_months.as_nanos() as u64);
        assert_eq!(check_append_only(&c, six_months), Ok(()));
    }
}
