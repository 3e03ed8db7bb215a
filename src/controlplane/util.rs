//! Small helpers of the control plane: clock, ids, offset tokens and digests.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::hash::canonical_json;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh random UUID (v4), hyphenated lowercase.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// The canonical (hyphenated lowercase) form of `s` when it is a UUID.
pub(crate) fn parse_uuid(s: &str) -> Option<String> {
    uuid::Uuid::try_parse(s)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// `secs` since the epoch as an ISO-8601 UTC timestamp (`2024-05-01T12:00:00.000Z`), the form
/// the Konnect control planes API uses.
pub(crate) fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Prefix of offset tokens, so a token from elsewhere is recognised as foreign.
const TOKEN_PREFIX: &str = "psoff1:";

/// The opaque list offset token for "after the entity with sequence number `seq`".
pub(crate) fn encode_offset(seq: i64) -> String {
    hex(format!("{TOKEN_PREFIX}{seq}").as_bytes())
}

/// Decodes a token made by [`encode_offset`].
pub(crate) fn decode_offset(token: &str) -> Option<i64> {
    if token.len() % 2 != 0 || token.len() > 128 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let seq = text.strip_prefix(TOKEN_PREFIX)?.parse::<i64>().ok()?;
    (seq >= 0).then_some(seq)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The sha256 digest of one entity of the data plane payload: its collection name and its
/// canonical JSON (the one writer of `model::hash`).
pub(crate) fn entity_digest(collection: &str, entity: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(collection.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_json(entity).as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        assert_eq!(decode_offset(&encode_offset(42)), Some(42));
        for bad in ["", "zz", "abc", "00", &hex(b"psoff1:-3"), &hex(b"other:4")] {
            assert_eq!(decode_offset(bad), None, "{bad}");
        }
    }

    /// The payload digest of an entity is pinned: stores keep these digests, and the
    /// configuration hash is their sum.
    #[test]
    fn entity_digest_is_pinned() {
        let body = serde_json::json!({
            "id": "x",
            "config": {"window": 60, "names": ["b", "a"]},
            "enabled": true,
            "protocols": ["http"],
            "route": null,
        });
        assert_eq!(
            hex(&entity_digest("plugins", &body)),
            "dc41755b64ba858a9da8a782b3bdda85e1932f175595daebb90187009c5a6550"
        );
    }
}
