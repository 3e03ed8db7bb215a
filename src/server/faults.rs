//! Test-only misbehaviour: `--rate-limit` and `--fault-rate`.
//!
//! Both apply to every API request (not to `/_plugsync/…`, the inspection endpoints tests use
//! to check what happened). The rate limiter is a token bucket holding one second of requests;
//! a request finding it empty is answered 429 with `Retry-After`.
//!
//! Fault injection draws, for every request in arrival order, from a seeded SplitMix64
//! generator: with probability `rate` the request gets one of the selected kinds
//! (`--fault-kinds`; by default 429 with `Retry-After: 1`, 500, 503 or a dropped connection),
//! all equally likely — or 429 with an HTTP-date `Retry-After`, 502, 504, or a slow answer
//! (`--fault-delay-ms`) — each either **before** the request is processed (nothing was
//! written) or **after** it (the write committed and its answer is replaced or delayed). The after-commit faults are the ones that make a client prove its
//! retries are idempotent: the write it retries already happened. A dropped connection closes
//! the socket without a single byte of response (see `conn`). Every injected answer carries
//! `X-Plugsync-Fault` (e.g. `503 after-commit`) to make failures easy to tell apart in logs,
//! and each fault is logged on stderr (`fault injected: 503 after-commit on PUT /…`).
//! The same seed and the same request order give the same faults.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::conn::Dropper;
use super::error::{ApiError, Injected, Problem, Shape};

/// What an injected fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 with `Retry-After: 1` (seconds).
    TooManyRequests,
    /// 429 with `Retry-After` as an HTTP date, one second ahead.
    TooManyRequestsDate,
    /// 500.
    Internal,
    /// 502.
    BadGateway,
    /// 503.
    Unavailable,
    /// 504.
    GatewayTimeout,
    /// The connection is closed without an answer.
    Drop,
    /// The answer is delayed by the fault delay (`--fault-delay-ms`): before the request is
    /// processed (a client that gives up first cancels it) or after its write committed.
    Slow,
}

impl FaultKind {
    /// The kinds `--fault-kinds` names, in its spelling.
    pub const ALL: [(&'static str, FaultKind); 8] = [
        ("429", FaultKind::TooManyRequests),
        ("429-date", FaultKind::TooManyRequestsDate),
        ("500", FaultKind::Internal),
        ("502", FaultKind::BadGateway),
        ("503", FaultKind::Unavailable),
        ("504", FaultKind::GatewayTimeout),
        ("drop", FaultKind::Drop),
        ("slow", FaultKind::Slow),
    ];

    /// The mix used without `--fault-kinds`: 429, 500, 503 and dropped connections.
    pub const DEFAULT: [FaultKind; 4] = [
        FaultKind::TooManyRequests,
        FaultKind::Internal,
        FaultKind::Unavailable,
        FaultKind::Drop,
    ];

    /// Parses one name of `--fault-kinds` (`429`, `429-date`, `500`, `502`, `503`, `504`,
    /// `drop`, `slow`).
    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .iter()
            .find(|(n, _)| *n == name.trim())
            .map(|(_, k)| *k)
    }

    /// The name `--fault-kinds` and `X-Plugsync-Fault` use.
    pub fn name(self) -> &'static str {
        FaultKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

/// An injected fault: what, and whether the request was processed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The answer.
    pub kind: FaultKind,
    /// `true`: the request ran (its write committed) before the fault replaced the answer.
    pub after_commit: bool,
}

impl Fault {
    /// The `X-Plugsync-Fault` header value, e.g. `503 after-commit`, `drop before-commit`.
    pub fn label(self) -> String {
        let when = if self.after_commit {
            "after-commit"
        } else {
            "before-commit"
        };
        format!("{} {when}", self.kind.name())
    }
}

/// SplitMix64: tiny, fast, and good enough to pick faults reproducibly.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The fault sequence of one server run.
#[derive(Debug)]
pub struct FaultPlan {
    rate: f64,
    kinds: Vec<FaultKind>,
    delay: Duration,
    rng: Mutex<SplitMix64>,
}

impl FaultPlan {
    /// Faults a `rate` fraction (0..=1) of requests with the default mix of kinds, in the
    /// sequence `seed` determines.
    #[cfg(test)]
    pub fn new(rate: f64, seed: u64) -> FaultPlan {
        FaultPlan::with_kinds(rate, seed, &FaultKind::DEFAULT, Duration::from_secs(2))
    }

    /// Faults a `rate` fraction of requests with `kinds` (all equally likely, each before or
    /// after commit); `Slow` faults wait `delay`. An empty `kinds` means the default mix.
    pub fn with_kinds(rate: f64, seed: u64, kinds: &[FaultKind], delay: Duration) -> FaultPlan {
        let kinds = if kinds.is_empty() {
            FaultKind::DEFAULT.to_vec()
        } else {
            kinds.to_vec()
        };
        FaultPlan {
            rate: rate.clamp(0.0, 1.0),
            kinds,
            delay,
            rng: Mutex::new(SplitMix64(seed)),
        }
    }

    /// The fault for the next request, if it gets one.
    pub fn draw(&self) -> Option<Fault> {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if rng.next_f64() >= self.rate {
            return None;
        }
        // With the default four kinds this is the sequence earlier versions drew.
        let pick = rng.next_u64() % (2 * self.kinds.len() as u64);
        let kind = self.kinds[(pick / 2) as usize];
        Some(Fault {
            kind,
            after_commit: pick % 2 == 1,
        })
    }
}

/// A token bucket of `rps` requests per second holding at most one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    rps: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// Allows `rps` requests per second (bursts up to `max(rps, 1)`).
    pub fn new(rps: f64) -> RateLimiter {
        let capacity = rps.max(1.0);
        RateLimiter {
            rps,
            bucket: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Takes a token, or says in how many whole seconds (at least 1) one will be there.
    #[cfg(test)]
    pub fn take(&self) -> Result<(), u64> {
        self.take_with_budget().0
    }

    /// Takes a token like [`RateLimiter::take`], and says what is left: whole tokens, and
    /// whole seconds (at least 1) until the bucket is full again.
    pub fn take_with_budget(&self) -> (Result<(), u64>, Budget) {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.1).as_secs_f64();
        bucket.0 = (bucket.0 + elapsed * self.rps).min(self.rps.max(1.0));
        bucket.1 = now;
        let capacity = self.rps.max(1.0);
        let taken = if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.0) / self.rps);
            Err(wait.as_secs_f64().ceil().max(1.0) as u64)
        };
        let budget = Budget {
            limit: capacity.floor() as u64,
            remaining: bucket.0.max(0.0).floor() as u64,
            reset_secs: ((capacity - bucket.0) / self.rps).ceil().max(1.0) as u64,
        };
        (taken, budget)
    }
}

/// What a rate-limited server tells about its budget on every answer, as Kong's rate limiting
/// does: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and the per-second
/// `X-RateLimit-Limit-Second` / `X-RateLimit-Remaining-Second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests a window (one second) allows.
    pub limit: u64,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the budget is whole again.
    pub reset_secs: u64,
}

impl Budget {
    /// Adds the headers to `response`.
    pub fn stamp(self, response: &mut Response) {
        let h = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", self.limit),
            ("ratelimit-remaining", self.remaining),
            ("ratelimit-reset", self.reset_secs),
            ("x-ratelimit-limit-second", self.limit),
            ("x-ratelimit-remaining-second", self.remaining),
        ] {
            h.insert(name, HeaderValue::from(value));
        }
    }
}

/// The rate limiter and fault plan of a server (either may be off).
#[derive(Debug, Default)]
pub struct Misbehaviour {
    /// `--rate-limit`.
    pub limiter: Option<RateLimiter>,
    /// `--fault-rate` / `--fault-seed`.
    pub faults: Option<FaultPlan>,
}

/// Middleware: rate limiting, then fault injection.
pub async fn misbehave(
    State(misbehaviour): State<Arc<Misbehaviour>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_plugsync/") {
        return next.run(request).await;
    }
    let shape = Shape::of_path(request.uri().path());
    let mut budget = None;
    if let Some(limiter) = &misbehaviour.limiter {
        let (taken, left) = limiter.take_with_budget();
        if let Err(retry_after_secs) = taken {
            let mut response =
                ApiError::new(shape, Problem::RateLimited { retry_after_secs }).into_response();
            left.stamp(&mut response);
            return response;
        }
        budget = Some(left);
    }
    let mut response = misbehave_faults(&misbehaviour, shape, request, next).await;
    if let Some(budget) = budget {
        budget.stamp(&mut response);
    }
    response
}

/// Fault injection, after the rate limiter.
async fn misbehave_faults(
    misbehaviour: &Misbehaviour,
    shape: Shape,
    request: Request,
    next: Next,
) -> Response {
    let Some(fault) = misbehaviour.faults.as_ref().and_then(FaultPlan::draw) else {
        return next.run(request).await;
    };
    let dropper = request
        .extensions()
        .get::<ConnectInfo<Dropper>>()
        .map(|info| info.0.clone());
    let delay = misbehaviour
        .faults
        .as_ref()
        .map_or(Duration::ZERO, |plan| plan.delay);
    // One stderr line per fault, so a test (or a person) can count what the client saw.
    crate::eline!(
        "fault injected: {} on {} {}",
        fault.label(),
        request.method(),
        request.uri().path()
    );
    let label = HeaderValue::from_str(&fault.label()).ok();
    if fault.kind == FaultKind::Slow {
        // Before commit: a client that gives up while we wait drops the connection, and
        // hyper cancels this future before the request runs. After commit: the write is
        // done, only its answer is late.
        if !fault.after_commit {
            tokio::time::sleep(delay).await;
        }
        let mut response = next.run(request).await;
        if fault.after_commit {
            tokio::time::sleep(delay).await;
        }
        if let Some(label) = label {
            response.headers_mut().insert("x-plugsync-fault", label);
        }
        return response;
    }
    if fault.after_commit {
        // The request runs to completion (a write commits); its answer is thrown away.
        let _ = next.run(request).await;
    }
    let problem = match fault.kind {
        FaultKind::TooManyRequests | FaultKind::TooManyRequestsDate => Problem::RateLimited {
            retry_after_secs: 1,
        },
        FaultKind::Internal => Problem::Injected(Injected::Internal),
        FaultKind::BadGateway => Problem::Injected(Injected::BadGateway),
        FaultKind::Unavailable => Problem::Injected(Injected::Unavailable),
        FaultKind::GatewayTimeout => Problem::Injected(Injected::GatewayTimeout),
        FaultKind::Drop | FaultKind::Slow => {
            if let Some(dropper) = &dropper {
                dropper.drop_connection();
            }
            // Never delivered once the connection is dropped; a router served without
            // droppable connections (in-process) answers this 503 instead.
            Problem::Injected(Injected::Unavailable)
        }
    };
    let mut response = ApiError::new(shape, problem).into_response();
    if fault.kind == FaultKind::TooManyRequestsDate {
        let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1));
        if let Ok(value) = HeaderValue::from_str(&when) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
    }
    if let Some(label) = label {
        response.headers_mut().insert("x-plugsync-fault", label);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let a = FaultPlan::new(0.5, 7);
        let b = FaultPlan::new(0.5, 7);
        let sa: Vec<_> = (0..200).map(|_| a.draw()).collect();
        let sb: Vec<_> = (0..200).map(|_| b.draw()).collect();
        assert_eq!(sa, sb);
        let faulted = sa.iter().filter(|f| f.is_some()).count();
        assert!((60..140).contains(&faulted), "{faulted} of 200 faulted");
    }

    #[test]
    fn rate_one_faults_everything_with_every_kind() {
        let plan = FaultPlan::new(1.0, 1);
        let faults: Vec<Fault> = (0..400).map(|_| plan.draw().unwrap()).collect();
        for kind in [
            FaultKind::TooManyRequests,
            FaultKind::Internal,
            FaultKind::Unavailable,
            FaultKind::Drop,
        ] {
            for after_commit in [false, true] {
                assert!(faults.contains(&Fault { kind, after_commit }));
            }
        }
    }

    #[test]
    fn selected_kinds_are_the_only_ones_drawn() {
        let kinds = [FaultKind::BadGateway, FaultKind::Slow];
        let plan = FaultPlan::with_kinds(1.0, 3, &kinds, Duration::from_millis(10));
        let faults: Vec<Fault> = (0..200).map(|_| plan.draw().unwrap()).collect();
        assert!(faults.iter().all(|f| kinds.contains(&f.kind)));
        for kind in kinds {
            assert!(faults.iter().any(|f| f.kind == kind && f.after_commit));
            assert!(faults.iter().any(|f| f.kind == kind && !f.after_commit));
        }
        for (name, kind) in FaultKind::ALL {
            assert_eq!(FaultKind::parse(name), Some(kind));
            assert_eq!(kind.name(), name);
        }
        assert_eq!(FaultKind::parse("418"), None);
    }

    #[test]
    fn the_default_mix_keeps_the_old_sequence() {
        let a = FaultPlan::new(0.5, 99);
        let b = FaultPlan::with_kinds(0.5, 99, &[], Duration::ZERO);
        let sa: Vec<_> = (0..100).map(|_| a.draw()).collect();
        let sb: Vec<_> = (0..100).map(|_| b.draw()).collect();
        assert_eq!(sa, sb);
    }

    #[test]
    fn rate_zero_faults_nothing() {
        let plan = FaultPlan::new(0.0, 1);
        assert!((0..100).all(|_| plan.draw().is_none()));
    }

    #[test]
    fn the_bucket_refuses_above_the_rate() {
        let limiter = RateLimiter::new(2.0);
        assert!(limiter.take().is_ok());
        assert!(limiter.take().is_ok());
        assert_eq!(limiter.take(), Err(1));
    }

    #[test]
    fn the_bucket_tells_its_budget() {
        let limiter = RateLimiter::new(5.0);
        let (taken, budget) = limiter.take_with_budget();
        assert!(taken.is_ok());
        assert_eq!(
            (budget.limit, budget.remaining, budget.reset_secs),
            (5, 4, 1)
        );
    }
}
