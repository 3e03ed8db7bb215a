//! Reading requests: which control plane and entity a path addresses, list query parameters
//! (validated here, before the store sees them) and JSON bodies (content type, size, syntax).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use serde_json::Value;

use super::error::{ApiError, Problem, Shape};
use super::{AppState, BODY_LIMIT};
use crate::controlplane::{Kind, TagFilter};

/// The control plane a request addresses: `{cp}` under `/v2`, `default` on the Admin API paths.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The dialect to answer in.
    pub shape: Shape,
    /// The control plane id.
    pub cp: String,
    /// The path parameters.
    params: HashMap<String, String>,
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Scope, ApiError> {
        let shape = Shape::of_path(parts.uri.path());
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(shape, Problem::NoRoute))?;
        let cp = match params.get("cp") {
            Some(cp) => cp.clone(),
            None => state.default_cp.to_string(),
        };
        Ok(Scope { shape, cp, params })
    }
}

impl Scope {
    /// A path parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// The entity (or collection) a core-entities path addresses.
#[derive(Debug, Clone)]
pub struct Located {
    /// The dialect to answer in.
    pub shape: Shape,
    /// The control plane id.
    pub cp: String,
    /// The kind of the addressed entity or collection.
    pub kind: Kind,
    /// The addressed entity (id or name), `None` for a collection.
    pub id: Option<String>,
    /// For nested plugin paths (`services/{id}/plugins`): the scope entity.
    pub parent: Option<(Kind, String)>,
}

impl Located {
    /// The addressed entity's id or name (item routes always have one).
    pub fn item(&self) -> Result<String, ApiError> {
        self.id
            .clone()
            .ok_or_else(|| ApiError::new(self.shape, Problem::NoRoute))
    }
}

/// Extracts a [`Located`] from a flat path (`{kind}[/{id}]`, `NESTED = false`) or a nested
/// plugin path (`{kind}/{id}/plugins[/{plugin}]`, `NESTED = true`, where `kind` and `id` name
/// the scope entity). An unknown kind is a 404 in the request's dialect.
#[derive(Debug, Clone)]
pub struct At<const NESTED: bool>(pub Located);

impl<const NESTED: bool> FromRequestParts<AppState> for At<NESTED> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let scope = Scope::from_request_parts(parts, state).await?;
        let no_route = || ApiError::new(scope.shape, Problem::NoRoute);
        let kind = scope
            .param("kind")
            .and_then(Kind::from_path)
            .ok_or_else(no_route)?;
        let located = if NESTED {
            if !matches!(
                kind,
                Kind::Service | Kind::Route | Kind::Consumer | Kind::ConsumerGroup
            ) {
                return Err(no_route());
            }
            let parent_id = scope.param("id").ok_or_else(no_route)?.to_string();
            Located {
                shape: scope.shape,
                cp: scope.cp.clone(),
                kind: Kind::Plugin,
                id: scope.param("plugin").map(str::to_string),
                parent: Some((kind, parent_id)),
            }
        } else {
            Located {
                shape: scope.shape,
                cp: scope.cp.clone(),
                kind,
                id: scope.param("id").map(str::to_string),
                parent: None,
            }
        };
        Ok(At(located))
    }
}

/// The query parameters of a request, in order (`filter[name][eq]` kept as one key).
pub fn query_pairs(shape: Shape, uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .map_err(|e| {
            ApiError::new(
                shape,
                Problem::InvalidQuery {
                    param: "query".into(),
                    message: format!("cannot parse the query string: {}", e.body_text()),
                },
            )
        })
}

/// The last value of query parameter `name`.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a bounded integer query parameter (`size`, `page[size]`, `page[number]`).
pub fn bounded(
    shape: Shape,
    pairs: &[(String, String)],
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(raw) = query_value(pairs, name) else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            shape,
            Problem::InvalidQuery {
                param: name.to_string(),
                message: format!("{name} must be an integer between 1 and {max}"),
            },
        )),
    }
}

/// The list parameters of a core-entities list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    /// `size`, 1..=1000, default 100.
    pub size: usize,
    /// `offset`, opaque (the store validates it).
    pub offset: Option<String>,
    /// `tags`, raw (for the `next` link) and parsed.
    pub tags: Option<(String, TagFilter)>,
    /// `filter[name][eq]`.
    pub name_eq: Option<String>,
}

/// The largest page a list returns.
pub const MAX_PAGE: usize = 1000;
/// The page size when `size` is not given.
pub const DEFAULT_PAGE: usize = 100;

impl ListParams {
    /// Reads and validates `size`, `offset`, `tags` and `filter[name][eq]`.
    pub fn parse(shape: Shape, uri: &Uri) -> Result<ListParams, ApiError> {
        let pairs = query_pairs(shape, uri)?;
        let size = bounded(shape, &pairs, "size", DEFAULT_PAGE, MAX_PAGE)?;
        let offset = query_value(&pairs, "offset").map(str::to_string);
        let tags = match query_value(&pairs, "tags") {
            Some(raw) => {
                let filter =
                    TagFilter::parse(raw).map_err(|e| ApiError::store(shape, e.clone()))?;
                Some((raw.to_string(), filter))
            }
            None => None,
        };
        let name_eq = query_value(&pairs, "filter[name][eq]").map(str::to_string);
        Ok(ListParams {
            size,
            offset,
            tags,
            name_eq,
        })
    }

    /// The link to the page after this one, whose offset is `offset`: a relative path for
    /// the Admin API (as Kong writes it), an absolute URI on `/v2` (from the `Host` header).
    pub fn next_link(&self, shape: Shape, uri: &Uri, headers: &HeaderMap, offset: &str) -> String {
        let mut query = format!("offset={}&size={}", encode(offset), self.size);
        if let Some((raw, _)) = &self.tags {
            query.push_str(&format!("&tags={}", encode(raw)));
        }
        if let Some(name) = &self.name_eq {
            query.push_str(&format!("&{}={}", encode("filter[name][eq]"), encode(name)));
        }
        let path = uri.path();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty());
        match (shape, host) {
            (Shape::Admin, _) | (_, None) => format!("{path}?{query}"),
            (_, Some(host)) => format!("http://{host}{path}?{query}"),
        }
    }
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON request body: `application/json` (or any `+json` type, or no content type at all),
/// at most [`BODY_LIMIT`] bytes, syntactically valid. The store checks its shape.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody, ApiError> {
        let shape = Shape::of_path(req.uri().path());
        let bad = |message: String| ApiError::new(shape, Problem::InvalidBody(message));
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let text = content_type.to_str().unwrap_or("");
            let essence = text.split(';').next().unwrap_or("").trim().to_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(bad(format!(
                    "unsupported content type '{}': the request body must be application/json",
                    text.trim()
                )));
            }
        }
        // A declared length over the limit is refused before a byte of the body is read.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(ApiError::new(
                shape,
                Problem::BodyTooLarge { limit: BODY_LIMIT },
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(shape, Problem::BodyTooLarge { limit: BODY_LIMIT })
            } else {
                bad(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(bad(
                "the request body is empty: expected a json object".to_string()
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| bad(format!("cannot parse the request body as json: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_characters_only() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("a/b,c"), "a%2Fb%2Cc");
        assert_eq!(encode("filter[name][eq]"), "filter%5Bname%5D%5Beq%5D");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn size_is_bounded() {
        let pairs = |v: &str| vec![("size".to_string(), v.to_string())];
        assert_eq!(bounded(Shape::Admin, &[], "size", 100, 1000).unwrap(), 100);
        assert_eq!(
            bounded(Shape::Admin, &pairs("1000"), "size", 100, 1000).unwrap(),
            1000
        );
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(bounded(Shape::Admin, &pairs(bad), "size", 100, 1000).is_err());
        }
    }

    #[test]
    fn next_links_are_relative_on_the_admin_api_and_absolute_on_konnect() {
        let uri: Uri = "/plugins?size=2&tags=a%2Cb".parse().unwrap();
        let params = ListParams {
            size: 2,
            offset: None,
            tags: Some(("a,b".into(), TagFilter::All(vec!["a".into(), "b".into()]))),
            name_eq: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:9".parse().unwrap());
        let admin = params.next_link(Shape::Admin, &uri, &headers, "o/1");
        assert_eq!(admin, "/plugins?offset=o%2F1&size=2&tags=a%2Cb");
        let konnect_uri: Uri = "/v2/control-planes/c/core-entities/plugins"
            .parse()
            .unwrap();
        let konnect = params.next_link(Shape::Konnect, &konnect_uri, &headers, "o");
        assert!(konnect
            .starts_with("http://127.0.0.1:9/v2/control-planes/c/core-entities/plugins?offset=o"));
    }
}
