//! The HTML report: self-contained, escaped, and — in headless Chromium — rendering numbers
//! that match the pack's `_meta.summary`.
//!
//! The browser test runs when Chromium is found (`ACTTRACE_CHROMIUM`, or `chromium` /
//! `chromium-browser` on PATH); under CI (env `CI` set) it fails without one; otherwise it
//! prints "skipped". With `ACTTRACE_SAVE_REPORT_PNG=1` it also saves its screenshot as
//! docs/report.png.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use acttrace::export::{ExportOptions, Format, export_path};
use common::*;

fn export_dir(dir: &Path, log: &Path, fw: &str) -> PathBuf {
    let out = dir.join(format!("ev-{fw}"));
    let mut opts = ExportOptions::new(fw, Format::Dir);
    opts.key = Some(key());
    export_path(log, &out, &opts).unwrap();
    out
}

#[test]
fn the_report_is_self_contained_and_escapes_log_content() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let out = export_dir(dir.path(), &log, "gdpr");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // No network: nothing is loaded from anywhere.
    for bad in [
        "<script", "<link", "src=", "@import", "url(", "<iframe", "<img",
    ] {
        assert!(!html.contains(bad), "found {bad}");
    }
    let no_xmlns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!no_xmlns.contains("http://") && !no_xmlns.contains("https://"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    // Log content is escaped: the synthetic log holds a <script> payload and HTML in names.
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("claims &lt;b&gt;bot&lt;/b&gt;"));
    assert!(html.contains("rev&quot;&lt;i&gt;1&lt;/i&gt;"));
    assert!(html.contains("never a claim of compliance"));
    assert!(html.contains("<details class=\"decision\""));
}

fn attr<'a>(dom: &'a str, id: &str, attr: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} missing"));
    let tag_start = dom[..at].rfind('<').unwrap();
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').unwrap()];
    let key = format!("{attr}=\"");
    let s = tag
        .find(&key)
        .unwrap_or_else(|| panic!("#{id} has no {attr}"))
        + key.len();
    &tag[s..s + tag[s..].find('"').unwrap()]
}

fn rows(dom: &str, class: &str) -> Vec<(String, u64)> {
    let needle = format!("<tr class=\"{class}\" data-key=\"");
    dom.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &dom[i + needle.len()..];
            let key = &rest[..rest.find('"').unwrap()];
            let c = rest.find("data-count=\"").unwrap() + 12;
            let n = rest[c..c + rest[c..].find('"').unwrap()].parse().unwrap();
            (key.to_owned(), n)
        })
        .collect()
}

fn chromium_run(chrome: &Path, args: &[String]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[test]
fn the_report_renders_in_chromium_with_the_summary_numbers() {
    let Some(chrome) = require(chromium(), "chromium (apt-get install chromium)") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (log, fw) in [
        (quickstart_log(dir.path(), true), "all"),
        (synthetic_log(dir.path(), true), "eu_ai_act"),
    ] {
        let out = export_dir(dir.path(), &log, fw);
        let report = out.join("report.html");
        let url = format!("file://{}", report.display());
        let dump = chromium_run(&chrome, &["--dump-dom".into(), url.clone()]);
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let dom = String::from_utf8(dump.stdout).unwrap();
        assert!(dom.contains("Evidence report"), "the page rendered");
        let meta = &entries(&out.join("pack.jsonl"))[0]["_meta"];
        let summary = &meta["summary"];
        for key in [
            "decisions",
            "llm_calls",
            "tool_calls",
            "context_assemblies",
            "human_oversight",
            "policy_flags",
        ] {
            let shown: u64 = attr(&dom, &format!("sum-{key}"), "data-value")
                .parse()
                .unwrap();
            assert_eq!(shown, summary[key].as_u64().unwrap(), "{key}");
        }
        let entries: u64 = attr(&dom, "sum-entries", "data-value").parse().unwrap();
        assert_eq!(entries, meta["entries"].as_u64().unwrap());
        for (class, key) in [
            ("flag-action", "flags_by_action"),
            ("flag-severity", "flags_by_severity"),
        ] {
            let shown = rows(&dom, class);
            let want = summary[key].as_object().unwrap();
            assert_eq!(shown.len(), want.len(), "{key}");
            for (k, n) in shown {
                assert_eq!(want[&k].as_u64().unwrap(), n, "{key}.{k}");
            }
        }
        let with: u64 = attr(&dom, "oversight-with", "data-value").parse().unwrap();
        let without: u64 = attr(&dom, "oversight-without", "data-value")
            .parse()
            .unwrap();
        assert_eq!(
            with,
            meta["oversight"]["decisions_with_sign_off"]
                .as_u64()
                .unwrap()
        );
        assert_eq!(
            without,
            meta["oversight"]["decisions_without_sign_off"]
                .as_u64()
                .unwrap()
        );
        assert_eq!(with + without, summary["decisions"].as_u64().unwrap());
        assert_eq!(attr(&dom, "verification", "data-status"), "verified");
        let control_rows = dom.matches("<tr class=\"control\"").count();
        assert_eq!(
            control_rows,
            meta["controls_covered"].as_array().unwrap().len()
        );
        let decisions = dom.matches("<details class=\"decision\"").count() as u64;
        assert_eq!(decisions, summary["decisions"].as_u64().unwrap());
        // Decisions-over-time buckets add up to the decision count.
        let buckets: u64 = dom
            .match_indices("class=\"bucket\" data-count=\"")
            .map(|(i, m)| {
                let r = &dom[i + m.len()..];
                r[..r.find('"').unwrap()].parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(buckets, summary["decisions"].as_u64().unwrap());

        // Screenshot: a real PNG of a sensible size.
        let png = dir.path().join(format!("report-{fw}.png"));
        let shot = chromium_run(
            &chrome,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,2400".into(),
                url,
            ],
        );
        assert!(
            shot.status.success(),
            "{}",
            String::from_utf8_lossy(&shot.stderr)
        );
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            bytes.len() > 20_000,
            "a blank page would compress to almost nothing"
        );
        if fw == "eu_ai_act" && std::env::var_os("ACTTRACE_SAVE_REPORT_PNG").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
            std::fs::write(docs, &bytes).unwrap();
        }
    }
}
