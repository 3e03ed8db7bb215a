//! The request pace of a remote target, adjusted by what the server says.
//!
//! A [`Pacer`] holds one rate (requests a second) for all the worker threads of a run. It
//! starts conservatively (30 a second for Konnect) and then:
//!
//! - reads the rate-limit headers Kong's rate limiting sends — `RateLimit-Limit`,
//!   `RateLimit-Remaining`, `RateLimit-Reset` and `X-RateLimit-Limit-<Period>` /
//!   `X-RateLimit-Remaining-<Period>` — and never plans to go faster than the tightest window
//!   allows (95% of `limit / window`);
//! - rises while the server allows it (budget left, no 429): quickly, doubling about once a
//!   second, while it is below a rate the headers name; by about one request a second per
//!   second above it or when no header names one (additive increase);
//! - on a 429 halves the rate (once per burst of 429s: five threads hitting the same wall
//!   halve it once) and pauses every thread until `Retry-After` (multiplicative decrease);
//! - when a window's remaining budget is spent, pauses until `RateLimit-Reset`.
//!
//! An explicit `--rps` is a hard cap: the rate never goes above it. The logic is pure (every
//! method takes `now`), so it is tested without a clock or a server.

use std::time::{Duration, Instant};

/// The slowest pace the controller falls to on 429s (requests a second).
pub const MIN_RATE: f64 = 1.0;
/// The fastest it rises to without a cap or a header naming a limit.
pub const MAX_RATE: f64 = 1000.0;
/// The share of a server's stated rate that is planned for.
const HEADROOM: f64 = 0.95;

/// What one response said about the server's rate limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateHeaders {
    /// `RateLimit-Limit`.
    pub limit: Option<f64>,
    /// `RateLimit-Remaining`.
    pub remaining: Option<f64>,
    /// `RateLimit-Reset`, seconds until the window resets.
    pub reset: Option<f64>,
    /// `(limit, remaining, window seconds)` of each `X-RateLimit-Limit-<Period>`.
    pub windows: Vec<(f64, Option<f64>, f64)>,
}

impl RateHeaders {
    /// Reads the headers from `(name, value)` pairs (names in any case).
    pub fn parse<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> RateHeaders {
        let mut out = RateHeaders::default();
        let mut remaining_by_period: Vec<(f64, f64)> = Vec::new();
        let num = |v: &str| {
            // `100`, or the draft standard's `100;w=60` / `100, 100;w=60`: the first number.
            let first = v.split([',', ';']).next().unwrap_or("").trim();
            first
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
        };
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "ratelimit-limit" => {
                    out.limit = num(value);
                    // `100;w=60`: the window is named.
                    if let (Some(l), Some(w)) = (out.limit, window_param(value)) {
                        out.windows.push((l, None, w));
                    }
                }
                "ratelimit-remaining" => out.remaining = num(value),
                "ratelimit-reset" => out.reset = num(value),
                _ => {
                    if let Some(rest) = name.strip_prefix("x-ratelimit-limit-") {
                        if let (Some(secs), Some(l)) = (period_secs(rest), num(value)) {
                            out.windows.push((l, None, secs));
                        }
                    } else if let Some(rest) = name.strip_prefix("x-ratelimit-remaining-") {
                        if let (Some(secs), Some(r)) = (period_secs(rest), num(value)) {
                            remaining_by_period.push((secs, r));
                        }
                    }
                }
            }
        }
        for (secs, r) in remaining_by_period {
            if let Some(w) = out
                .windows
                .iter_mut()
                .find(|w| w.2 == secs && w.1.is_none())
            {
                w.1 = Some(r);
            }
        }
        out
    }

    /// Whether any rate-limit header was there.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.windows.is_empty()
    }

    /// The sustained rate the tightest named window allows (requests a second).
    pub fn window_rate(&self) -> Option<f64> {
        self.windows
            .iter()
            .filter(|(_, _, secs)| *secs > 0.0)
            .map(|(l, _, secs)| l / secs)
            .min_by(f64::total_cmp)
    }

    /// The smallest share of a window's budget that is left (0 to 1), when it is known.
    pub fn remaining_share(&self) -> Option<f64> {
        let mut shares: Vec<f64> = self
            .windows
            .iter()
            .filter_map(|(l, r, _)| r.filter(|_| *l > 0.0).map(|r| r / l))
            .collect();
        if let (Some(l), Some(r)) = (self.limit, self.remaining) {
            if l > 0.0 {
                shares.push(r / l);
            }
        }
        shares.into_iter().min_by(f64::total_cmp)
    }

    /// Whether some window's budget is spent.
    fn spent(&self) -> bool {
        self.remaining.is_some_and(|r| r < 1.0)
            || self
                .windows
                .iter()
                .any(|(_, r, _)| r.is_some_and(|r| r < 1.0))
    }
}

/// `w=SECS` in a draft-standard `RateLimit-Limit` value.
fn window_param(v: &str) -> Option<f64> {
    v.split([',', ';'])
        .filter_map(|p| p.trim().strip_prefix("w="))
        .filter_map(|w| w.trim().parse::<f64>().ok())
        .find(|w| *w > 0.0)
}

/// The window of a Kong period name (`second`, `minute`, … `year`; a limit name before it,
/// as in `videos-minute`, is allowed).
fn period_secs(name: &str) -> Option<f64> {
    let period = name.rsplit('-').next()?;
    Some(match period {
        "second" => 1.0,
        "minute" => 60.0,
        "hour" => 3600.0,
        "day" => 86_400.0,
        "month" => 30.0 * 86_400.0,
        "year" => 365.0 * 86_400.0,
        _ => return None,
    })
}

/// The shared pace of one target.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    /// `--rps`, never exceeded.
    cap: Option<f64>,
    /// Whether the rate adapts (off: a fixed `--rps` against a target that sends nothing).
    adaptive: bool,
    /// The rate the headers last named (95% of the tightest window).
    server_rate: Option<f64>,
    /// Above this the rate rises additively (set to half the rate on a 429).
    threshold: f64,
    /// The next free slot.
    next: Instant,
    /// No request before this (a 429's `Retry-After`, a spent window's reset).
    paused_until: Option<Instant>,
    /// A 429 before this is part of the same burst and does not halve the rate again.
    calm_after: Option<Instant>,
    /// The rate last told (for `-v`).
    told: f64,
    told_at: Option<Instant>,
}

/// What the caller should tell the user (with `-v`).
pub type Told = Option<String>;

impl Pacer {
    /// Starts at `start` requests a second (at most `cap`). Not `adaptive`: a fixed pace
    /// that still pauses on a 429 and on a spent window.
    pub fn new(start: f64, cap: Option<f64>, adaptive: bool, now: Instant) -> Pacer {
        let cap = cap.filter(|c| *c > 0.0);
        let rate = cap.map_or(start, |c| start.min(c)).max(f64::MIN_POSITIVE);
        Pacer {
            rate,
            cap,
            adaptive,
            server_rate: None,
            threshold: f64::INFINITY,
            next: now,
            paused_until: None,
            calm_after: None,
            told: rate,
            told_at: None,
        }
    }

    /// The current rate, requests a second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The highest rate allowed now: the cap, the server's stated rate, [`MAX_RATE`].
    fn ceiling(&self) -> f64 {
        let mut c = MAX_RATE;
        if let Some(cap) = self.cap {
            c = c.min(cap);
        }
        if let Some(s) = self.server_rate {
            c = c.min(s);
        }
        c.max(MIN_RATE.min(self.cap.unwrap_or(MIN_RATE)))
    }

    /// Takes the next slot: how long the caller waits before sending.
    pub fn slot(&mut self, now: Instant) -> Duration {
        let mut at = self.next.max(now);
        if let Some(p) = self.paused_until {
            if p > at {
                at = p;
            } else if p <= now {
                self.paused_until = None;
            }
        }
        self.next = at + Duration::from_secs_f64(1.0 / self.rate);
        at.saturating_duration_since(now)
    }

    /// A response that was not a 429, with its rate-limit headers.
    pub fn on_response(&mut self, h: &RateHeaders, now: Instant) -> Told {
        if let Some(w) = h.window_rate() {
            self.server_rate = Some((w * HEADROOM).max(MIN_RATE));
        }
        if h.spent() {
            let wait = Duration::from_secs_f64(h.reset.unwrap_or(1.0).clamp(0.0, 3600.0));
            self.pause(now + wait);
            return Some(format!(
                "pacing: the server's rate budget is spent; pausing {:.1}s until it resets",
                wait.as_secs_f64()
            ));
        }
        let ceiling = self.ceiling();
        if self.rate > ceiling {
            self.rate = ceiling;
            return self.tell(now, true, "the server's stated limit");
        }
        if !self.adaptive {
            return None;
        }
        // Rise only while the server allows: no recent 429, and budget left.
        if self.calm_after.is_some_and(|t| now < t) {
            return None;
        }
        if h.remaining_share().is_some_and(|s| s < 0.2) {
            return None;
        }
        let fast = self.server_rate.is_some() && self.rate < self.threshold;
        let grown = if fast {
            // About a doubling a second at the current rate.
            self.rate * (1.0 + std::f64::consts::LN_2 / self.rate)
        } else {
            // About one request a second more, each second.
            self.rate + 1.0 / self.rate
        };
        self.rate = grown.min(ceiling);
        self.tell(now, false, "rising while the server allows")
    }

    /// A 429, with its `Retry-After` and rate-limit headers.
    pub fn on_throttled(
        &mut self,
        retry_after: Option<Duration>,
        h: &RateHeaders,
        now: Instant,
    ) -> Told {
        if let Some(w) = h.window_rate() {
            self.server_rate = Some((w * HEADROOM).max(MIN_RATE));
        }
        let wait = retry_after
            .or_else(|| h.reset.map(Duration::from_secs_f64))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(3600));
        self.pause(now + wait);
        if self.calm_after.is_some_and(|t| now < t) {
            return None;
        }
        self.rate = (self.rate / 2.0).max(MIN_RATE).min(self.ceiling());
        self.threshold = self.rate;
        // Answers to requests already on their way belong to the same burst.
        self.calm_after = Some(now + wait + Duration::from_secs(1));
        self.told = self.rate;
        self.told_at = Some(now);
        Some(format!(
            "pacing: 429 from the server; slowing to {:.1} requests/s, pausing {:.1}s",
            self.rate,
            wait.as_secs_f64()
        ))
    }

    fn pause(&mut self, until: Instant) {
        if self.paused_until.is_none_or(|p| p < until) {
            self.paused_until = Some(until);
        }
    }

    /// A line when the rate moved by a fifth since the last one (at most one a second), or
    /// at once when `now_` is set.
    fn tell(&mut self, now: Instant, at_once: bool, why: &str) -> Told {
        let moved = (self.rate - self.told).abs() >= self.told * 0.2;
        let quiet = self
            .told_at
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
        if !(at_once || moved && !quiet) {
            return None;
        }
        self.told = self.rate;
        self.told_at = Some(now);
        let server = self
            .server_rate
            .map(|s| format!(", the server allows {:.1}", s / HEADROOM))
            .unwrap_or_default();
        Some(format!(
            "pacing: {:.1} requests/s ({why}{server})",
            self.rate
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> RateHeaders {
        RateHeaders::parse(pairs.iter().copied())
    }

    #[test]
    fn reads_kong_and_draft_headers() {
        let k = h(&[
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "40"),
            ("RateLimit-Reset", "12"),
            ("X-RateLimit-Limit-Second", "100"),
            ("X-RateLimit-Remaining-Second", "40"),
            ("X-RateLimit-Limit-Minute", "3000"),
            ("X-RateLimit-Remaining-Minute", "2900"),
        ]);
        assert_eq!(k.limit, Some(100.0));
        assert_eq!(k.reset, Some(12.0));
        assert_eq!(k.window_rate(), Some(50.0));
        assert_eq!(k.remaining_share(), Some(0.4));
        let d = h(&[
            ("ratelimit-limit", "600;w=60"),
            ("ratelimit-remaining", "1"),
        ]);
        assert_eq!(d.window_rate(), Some(10.0));
        assert!(h(&[("x-ratelimit-limit-videos-minute", "60")]).window_rate() == Some(1.0));
        assert!(h(&[("content-type", "json")]).is_empty());
    }

    #[test]
    fn rises_fast_to_a_stated_limit_and_never_past_it() {
        let t0 = Instant::now();
        let mut p = Pacer::new(30.0, None, true, t0);
        let hs = h(&[
            ("X-RateLimit-Limit-Second", "100"),
            ("X-RateLimit-Remaining-Second", "90"),
        ]);
        for i in 0..200 {
            p.on_response(&hs, t0 + Duration::from_millis(i * 10));
        }
        assert!((p.rate() - 95.0).abs() < 1e-9, "{}", p.rate());
    }

    #[test]
    fn rises_slowly_without_headers_and_halves_once_per_burst_of_429s() {
        let t0 = Instant::now();
        let mut p = Pacer::new(30.0, None, true, t0);
        let none = RateHeaders::default();
        for i in 0..300 {
            p.on_response(&none, t0 + Duration::from_millis(i * 33));
        }
        // About +1 a second for 10 s.
        assert!((38.0..42.0).contains(&p.rate()), "{}", p.rate());
        let before = p.rate();
        let t1 = t0 + Duration::from_secs(10);
        assert!(p
            .on_throttled(Some(Duration::from_secs(2)), &none, t1)
            .is_some());
        // Four more threads hit the same wall: no further halving.
        for _ in 0..4 {
            assert!(p
                .on_throttled(Some(Duration::from_secs(2)), &none, t1)
                .is_none());
        }
        assert!((p.rate() - before / 2.0).abs() < 1e-9);
        // Every thread waits out the Retry-After.
        assert!(p.slot(t1) >= Duration::from_secs(2));
        // No rise during the burst; additive afterwards (not back to fast growth).
        p.on_response(&none, t1 + Duration::from_millis(500));
        assert!((p.rate() - before / 2.0).abs() < 1e-9);
        let r = p.rate();
        p.on_response(&none, t1 + Duration::from_secs(4));
        assert!(p.rate() > r && p.rate() < r + 0.1);
    }

    #[test]
    fn a_cap_is_hard_and_low_budget_holds_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(30.0, Some(10.0), true, t0);
        assert_eq!(p.rate(), 10.0);
        for i in 0..100 {
            p.on_response(&RateHeaders::default(), t0 + Duration::from_millis(i * 100));
        }
        assert_eq!(p.rate(), 10.0);
        let mut q = Pacer::new(30.0, None, true, t0);
        let low = h(&[
            ("RateLimit-Limit", "1000"),
            ("RateLimit-Remaining", "50"),
            ("RateLimit-Reset", "30"),
        ]);
        q.on_response(&low, t0);
        assert_eq!(q.rate(), 30.0);
    }

    #[test]
    fn a_lower_stated_limit_slows_at_once_and_a_spent_window_pauses() {
        let t0 = Instant::now();
        let mut p = Pacer::new(30.0, None, true, t0);
        let hs = h(&[
            ("X-RateLimit-Limit-Minute", "600"),
            ("X-RateLimit-Remaining-Minute", "500"),
        ]);
        assert!(p.on_response(&hs, t0).is_some());
        assert!((p.rate() - 9.5).abs() < 1e-9);
        let spent = h(&[
            ("RateLimit-Limit", "600"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "3"),
        ]);
        p.on_response(&spent, t0);
        assert!(p.slot(t0) >= Duration::from_secs(3));
    }

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0, None, false, t0);
        assert_eq!(p.slot(t0), Duration::ZERO);
        let second = p.slot(t0);
        assert!((second.as_secs_f64() - 0.1).abs() < 1e-6);
        // Fixed pace: no rise.
        p.on_response(&RateHeaders::default(), t0);
        assert_eq!(p.rate(), 10.0);
    }
}
