//! The raw load generator of the performance baseline (`docs/performance.md`): sends the PUTs
//! of a first sync, as written by `scripts/bench/gen_w1.py` into `requests.jsonl`, with N
//! threads over one blocking reqwest client — no planning, no validation, no retries. Stage 1
//! (custom plugins) completes before stage 2 (instances), as in plugsync's plan.
//!
//! ```sh
//! cargo run --release --example loadgen -- http://127.0.0.1:8001 /tmp/w1/requests.jsonl 16
//! ```
//! Prints `requests=N seconds=S rps=R`.

// A stand-alone tool: its result and usage go straight to stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: loadgen BASE_URL REQUESTS.jsonl [CONCURRENCY]");
        std::process::exit(1);
    }
    let base = args[1].trim_end_matches('/').to_string();
    let text = std::fs::read_to_string(&args[2]).expect("read requests file");
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let mut stages: Vec<Vec<(String, String)>> = vec![Vec::new(), Vec::new()];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let stage = v["stage"].as_u64().unwrap_or(1).clamp(1, 2) as usize;
        let url = format!("{base}{}", v["path"].as_str().expect("path"));
        stages[stage - 1].push((url, v["body"].to_string()));
    }
    let client = reqwest::blocking::Client::builder()
        .build()
        .expect("client");
    let started = Instant::now();
    let mut sent = 0usize;
    let mut failed = 0usize;
    for reqs in &stages {
        let next = AtomicUsize::new(0);
        let failures = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((url, body)) = reqs.get(i) else {
                        break;
                    };
                    let ok = client
                        .put(url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .and_then(|r| r.error_for_status())
                        .and_then(|r| r.bytes())
                        .is_ok();
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        sent += reqs.len();
        failed += failures.load(Ordering::Relaxed);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "requests={sent} failed={failed} seconds={secs:.3} rps={:.1}",
        sent as f64 / secs
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
