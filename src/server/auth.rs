//! `--token`: every request must carry `Authorization: Bearer TOKEN` (Konnect's way) or
//! `Kong-Admin-Token: TOKEN` (the Admin API's way). Tokens are compared as SHA-256 digests in
//! constant time, so neither the token's length nor its content leaks through timing, and the
//! token itself is never kept in a printable form.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::{ApiError, Problem, Shape};

/// The expected token, as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", crate::model::mask::MASKED)
    }
}

impl Token {
    /// Remembers `token` (only its digest).
    pub fn new(token: &str) -> Token {
        Token {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `candidate` is the token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        let diff = self
            .digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}

/// Middleware: answers 401 unless one of the two headers carries the token.
pub async fn require_token(
    State(token): State<Arc<Token>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    let admin = headers
        .get("kong-admin-token")
        .and_then(|v| v.to_str().ok());
    // Check both, always, so the answer's timing does not say which header was tried.
    let bearer_ok = bearer.is_some_and(|t| token.matches(t));
    let admin_ok = admin.is_some_and(|t| token.matches(t));
    if bearer_ok | admin_ok {
        next.run(request).await
    } else {
        let shape = Shape::of_path(request.uri().path());
        ApiError::new(shape, Problem::Unauthorized).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cret "));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "Token([masked])");
    }
}
