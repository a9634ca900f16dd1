//! A C2SP tlog-witness on 127.0.0.1 for tests: minimal HTTP/1.1 over a std `TcpListener`,
//! `POST /add-checkpoint` and `GET /<hex SHA-256 of origin>/checkpoint` (submission and
//! monitoring prefix are the server's root), Ed25519 cosignatures (type 0x04) made here with
//! ed25519-dalek from the spec's text, and fault switches a test turns.
//!
//! The log's note signature and the consistency proof are checked with the crate's
//! `Checkpoint::from_note` and `verify_consistency` (tested byte for byte against Go's and
//! other implementations in tests/checkpoint.rs).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acttrace::checkpoint::{Checkpoint, VerifierKey, verify_consistency};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

/// Faults a test can turn on.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Accept connections and close them at once, answering nothing.
    pub down: bool,
    /// Answer the next add-checkpoint with 409 and this size, whatever the state.
    pub reply_409_once: Option<u64>,
    /// Add an ML-DSA-44 (type 0x06) cosignature line before the Ed25519 one.
    pub ml_dsa_line: bool,
}

/// What the witness holds for one origin.
#[derive(Debug, Clone)]
pub struct Held {
    pub size: u64,
    pub root: [u8; 32],
    /// The note with the witness's cosignature lines appended.
    pub note: String,
}

struct State {
    name: String,
    signer: SigningKey,
    log_key: VerifierKey,
    held: HashMap<String, Held>,
    faults: Faults,
    /// (old size, HTTP status) of every add-checkpoint request, in order.
    requests: Vec<(u64, u16)>,
}

/// The running server; stops when dropped.
pub struct WitnessServer {
    /// `http://127.0.0.1:<port>`: the submission and monitoring prefix.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

/// The witness's cosigning key id: SHA-256(name ‖ \n ‖ 0x04 ‖ public key)[:4].
fn key_id(name: &str, signer: &SigningKey) -> [u8; 4] {
    let d = Sha256::digest(
        [
            name.as_bytes(),
            b"\n\x04",
            signer.verifying_key().as_bytes(),
        ]
        .concat(),
    );
    [d[0], d[1], d[2], d[3]]
}

impl WitnessServer {
    /// A witness named `name` cosigning with the Ed25519 key from `seed`, trusting `log_key`
    /// for the origin named by the key.
    pub fn start(name: &str, seed: [u8; 32], log_key: VerifierKey) -> WitnessServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            name: name.to_owned(),
            signer: SigningKey::from_bytes(&seed),
            log_key,
            held: HashMap::new(),
            faults: Faults::default(),
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &state);
                    }
                }
            })
        };
        WitnessServer {
            url: format!("http://{addr}"),
            state,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// The witness's verifier key in vkey format (type 0x04), written out here.
    pub fn vkey(&self) -> String {
        let st = self.state.lock().unwrap();
        let mut blob = vec![0x04];
        blob.extend_from_slice(st.signer.verifying_key().as_bytes());
        let id: String = key_id(&st.name, &st.signer)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}+{id}+{}", st.name, B64.encode(blob))
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().unwrap().faults = faults;
    }

    pub fn held(&self, origin: &str) -> Option<Held> {
        self.state.lock().unwrap().held.get(origin).cloned()
    }

    /// (old size, status) of every add-checkpoint request so far.
    pub fn requests(&self) -> Vec<(u64, u16)> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request: method, path and body (Content-Length; at most 1 MiB).
fn read_request(conn: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut len = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    if len > 1 << 20 {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Some((method, path, body))
}

fn respond(conn: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Other",
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    if state.lock().unwrap().faults.down {
        return; // dropped: the client sees the connection closed without an answer
    }
    let Some((method, path, body)) = read_request(&mut conn) else {
        return respond(&mut conn, 400, "text/plain", "bad request\n");
    };
    let mut st = state.lock().unwrap();
    match (method.as_str(), path.as_str()) {
        ("POST", "/add-checkpoint") => {
            let (status, ctype, reply, old) = add_checkpoint(&mut st, &body);
            st.requests.push((old, status));
            drop(st);
            respond(&mut conn, status, ctype, &reply);
        }
        ("GET", p) => {
            let held = st.held.iter().find(|(origin, _)| {
                let hex: String = Sha256::digest(origin.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                p == format!("/{hex}/checkpoint")
            });
            match held {
                Some((_, h)) => {
                    let note = h.note.clone();
                    drop(st);
                    respond(&mut conn, 200, "text/plain; charset=utf-8", &note)
                }
                None => {
                    drop(st);
                    respond(&mut conn, 404, "text/plain", "not found\n")
                }
            }
        }
        _ => {
            drop(st);
            respond(&mut conn, 404, "text/plain", "not found\n")
        }
    }
}

/// The add-checkpoint handler: (status, content type, body, old size).
fn add_checkpoint(st: &mut State, body: &[u8]) -> (u16, &'static str, String, u64) {
    let text = "text/plain";
    let Ok(body) = std::str::from_utf8(body) else {
        return (400, text, "not UTF-8\n".into(), 0);
    };
    let Some((head, note)) = body.split_once("\n\n") else {
        return (400, text, "no blank line\n".into(), 0);
    };
    let mut lines = head.split('\n');
    let Some(old) = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return (400, text, "no old size line\n".into(), 0);
    };
    let mut proof = Vec::new();
    for line in lines {
        match B64
            .decode(line)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
        {
            Some(h) => proof.push(h),
            None => return (400, text, "bad proof line\n".into(), old),
        }
    }
    if proof.len() > 63 {
        return (400, text, "too many proof lines\n".into(), old);
    }
    let Some(split) = note.rfind("\n\n") else {
        return (400, text, "note has no signatures\n".into(), old);
    };
    let note_text = &note[..split + 1];
    let Ok(body_cp) = Checkpoint::parse_body(note_text) else {
        return (400, text, "not a checkpoint\n".into(), old);
    };
    if body_cp.origin != st.log_key.name() {
        return (404, text, "unknown origin\n".into(), old);
    }
    let Ok(cp) = Checkpoint::from_note(note, std::slice::from_ref(&st.log_key)) else {
        return (403, text, "no valid log signature\n".into(), old);
    };
    if old > cp.size {
        return (400, text, "old size beyond the checkpoint\n".into(), old);
    }
    if let Some(size) = st.faults.reply_409_once.take() {
        return (409, "text/x.tlog.size", format!("{size}\n"), old);
    }
    let (held_size, held_root) = st
        .held
        .get(&cp.origin)
        .map_or((0, [0u8; 32]), |h| (h.size, h.root));
    if old != held_size {
        return (409, "text/x.tlog.size", format!("{held_size}\n"), old);
    }
    let consistent = if old == 0 {
        proof.is_empty()
    } else {
        verify_consistency(old, cp.size, &held_root, &cp.root, &proof).is_ok()
    };
    if !consistent {
        return (422, text, "consistency proof does not verify\n".into(), old);
    }
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let msg = format!("cosignature/v1\ntime {time}\n{note_text}");
    let mut blob = key_id(&st.name, &st.signer).to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&st.signer.sign(msg.as_bytes()).to_bytes());
    let line = format!("\u{2014} {} {}\n", st.name, B64.encode(blob));
    let mut reply = String::new();
    if st.faults.ml_dsa_line {
        // Shaped like an ML-DSA-44 cosignature: a type-0x06 key id, timestamp, 2420 bytes.
        let id = Sha256::digest([st.name.as_bytes(), b"\n\x06", &[5u8; 1312]].concat());
        let mut ml = id[..4].to_vec();
        ml.extend_from_slice(&time.to_be_bytes());
        ml.extend_from_slice(&[0xA5; 2420]);
        reply.push_str(&format!("\u{2014} {} {}\n", st.name, B64.encode(ml)));
    }
    reply.push_str(&line);
    let held = Held {
        size: cp.size,
        root: cp.root,
        note: format!("{note}{reply}"),
    };
    st.held.insert(cp.origin, held);
    (200, "text/plain; charset=utf-8", reply, old)
}
