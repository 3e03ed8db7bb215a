//! The validators Kong's typedefs implement as Lua functions, done natively.
//!
//! Config validation (`validate`) calls [`check`] for every [`Builtin`] a field carries, where
//! Kong runs the typedef's `custom_validator`. The rules and messages follow Kong's
//! `kong/db/schema/typedefs.lua` and the helpers it calls (`kong.tools.ip`, `kong.tools.http`,
//! `kong.tools.uri`, `kong.tools.sandbox`, LuaSocket's `socket.url`), including their quirks:
//! for example `normalize_ip` types any string of digits and dots as an IPv4 address, so `host`
//! rejects `1.2.3`, and `typedefs.ip` accepts a bracketed `[::1]`.
//!
//! Two typedefs have no Lua function in Kong but are listed as builtins by the typedefs
//! stand-in, so their declarative checks live here, in Kong's validator order:
//! `semantic_version` (its `match_none` then `match_any`) and `router_path` (its `match_none`,
//! `match_any`, then `custom_validator`). `path` is only its `custom_validator`: the
//! `starts_with = "/"` and `match_none = "//"` of `typedefs.path` are ordinary validators.
//!
//! Where Kong defers to a C library, the check here is a faithful subset, and the message keeps
//! Kong's prefix: certificates and keys are checked for a well-formed PEM block, not parsed
//! with OpenSSL. Lua code and router regexes are no subset: Lua code is compiled by LuaJIT
//! itself (`crate::luasyntax`), so the message after Kong's `Error parsing function: ` prefix
//! is LuaJIT's, chunk name included; regexes are compiled with PCRE2 itself (`super::regex`),
//! so the error is PCRE2's, in lua-nginx-module's form.
//! Values are `&str`, so Kong's "invalid utf-8 character sequence" error cannot arise.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lua_pattern;
use super::model::Builtin;
use super::regex;

/// Checks `value` with the typedef validator `builtin`; the error is Kong's message.
pub fn check(builtin: Builtin, value: &str) -> Result<(), String> {
    match builtin {
        Builtin::Host => validate_host(value),
        Builtin::HostWithOptionalPort => normalize_ip(value).map(|_| ()),
        Builtin::WildcardHost => validate_wildcard_host(value),
        Builtin::Ip => validate_ip(value),
        Builtin::IpOrCidr => validate_ip_or_cidr(value),
        Builtin::CidrV4 => validate_cidr_v4(value),
        Builtin::Path => validate_path(value).map_err(|(message, _)| message),
        Builtin::Url => validate_url(value),
        Builtin::CookieName => validate_cookie_name(value),
        Builtin::HeaderName => validate_header_name(value),
        Builtin::Utf8Name => validate_utf8_name(value),
        Builtin::Sni => validate_sni(value),
        Builtin::Tag => validate_tag(value),
        Builtin::Pem => validate_pem(value),
        Builtin::SemanticVersion => validate_semantic_version(value),
        Builtin::RouterPath => validate_router_path(value),
        Builtin::LuaCode => validate_lua_code(value),
    }
}

/// `subject:match(pattern) ~= nil` for the constant patterns Kong's helpers use. Those
/// patterns are well formed and linear, so an error cannot happen; it would count as no match.
fn lua_match(subject: &[u8], pattern: &[u8]) -> bool {
    matches!(lua_pattern::find_bytes(subject, pattern), Ok(Some(_)))
}

// ---------------------------------------------------------------------------------------------
// Hosts: `kong.tools.ip.normalize_ip` and the typedef validators built on it.

const INVALID_PORT: &str = "invalid port number";

/// What `hostname_type` guesses a host to be (by exclusion, not validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    Ipv4,
    Ipv6,
    Name,
}

/// A host that `normalize_ip` accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NormalizedHost {
    kind: HostKind,
    port: Option<u16>,
}

/// `hostname_type`: more than one colon is IPv6, digits and dots (colons aside) are IPv4.
fn hostname_type(name: &str) -> HostKind {
    if name.bytes().filter(|&b| b == b':').count() > 1 {
        return HostKind::Ipv6;
    }
    let mut rest = name.bytes().filter(|&b| b != b':').peekable();
    if rest.peek().is_some() && rest.all(|b| b.is_ascii_digit() || b == b'.') {
        HostKind::Ipv4
    } else {
        HostKind::Name
    }
}

/// A port in decimal digits, as Lua's `tonumber(port) > 65535` judges it.
fn parse_port(digits: &str) -> Result<u16, String> {
    let significant = digits.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(INVALID_PORT.to_string());
    }
    if significant.is_empty() {
        return Ok(0);
    }
    significant
        .parse::<u32>()
        .ok()
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| INVALID_PORT.to_string())
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `normalize_ipv4`: four dotted decimals of one to three digits each (leading zeros allowed),
/// each at most 255, optionally `:port`.
fn normalize_ipv4(address: &str) -> Result<Option<u16>, String> {
    let invalid = || format!("invalid ipv4 address: {address}");
    let (ip, port) = match address.split_once(':') {
        Some((ip, port)) => (ip, Some(port)),
        None => (address, None),
    };
    let octets: Vec<&str> = ip.split('.').collect();
    let well_formed = octets.len() == 4
        && octets.iter().all(|o| o.len() <= 3 && all_digits(o))
        && port.is_none_or(all_digits);
    if !well_formed {
        return Err(invalid());
    }
    if !octets
        .iter()
        .all(|o| matches!(o.parse::<u16>(), Ok(v) if v <= 255))
    {
        return Err(invalid());
    }
    port.map(parse_port).transpose()
}

/// `normalize_ipv6`: `addr`, `[addr]` or `[addr]:port`, where `addr` has eight groups of one to
/// four hex digits once a single `::` is expanded.
fn normalize_ipv6(address: &str) -> Result<Option<u16>, String> {
    let (mut check, port) = match bracketed(address) {
        Some((inner, rest)) => {
            let port = if rest.is_empty() {
                None
            } else {
                let digits = rest
                    .strip_prefix(':')
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| "invalid ipv6 address".to_string())?;
                // Kong's Lua fails on `tonumber("")` here (`[::1]:`); call it a bad port.
                if digits.is_empty() {
                    return Err(INVALID_PORT.to_string());
                }
                Some(parse_port(digits)?)
            };
            (inner.to_string(), port)
        }
        None => (address.to_string(), None),
    };
    if check.starts_with(':') {
        check.insert(0, '0');
    }
    if check.ends_with(':') {
        check.push('0');
    }
    if check.contains("::") {
        let colons = check.bytes().filter(|&b| b == b':').count();
        let fill = format!(":{}", "0:".repeat(8usize.saturating_sub(colons)));
        check = check.replacen("::", &fill, 1);
    }
    let groups: Vec<&str> = check.split(':').collect();
    let valid = groups.len() == 8
        && groups
            .iter()
            .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if valid {
        Ok(port)
    } else {
        Err(format!("invalid ipv6 address: {address}"))
    }
}

/// `address:match("^(%b[])(.-)$")`: the text inside a leading balanced `[...]`, and the rest.
fn bracketed(address: &str) -> Option<(&str, &str)> {
    if !address.starts_with('[') {
        return None;
    }
    let mut depth = 0usize;
    for (i, b) in address.bytes().enumerate() {
        match b {
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&address[1..i], &address[i + 1..]));
                }
            }
            b'[' => depth += 1,
            _ => {}
        }
    }
    None
}

/// `check_hostname`: `name` or `name:port`; letters, digits, `-`, `.`, `_`; no label ends
/// with `-`; no empty label except a trailing one (an FQDN's final dot).
fn check_hostname(address: &str) -> Result<Option<u16>, String> {
    let invalid = || format!("invalid hostname: {address}");
    let (name, port) = match address.rsplit_once(':') {
        Some((name, port)) if all_digits(port) => (name, Some(parse_port(port)?)),
        _ => (address, None),
    };
    if !lua_match(name.as_bytes(), b"^[%d%a%-%.%_]+$") {
        return Err(invalid());
    }
    let labels: Vec<&str> = name.split('.').collect();
    let last = labels.len() - 1;
    for (i, label) in labels.iter().enumerate() {
        if label.ends_with('-') || (label.is_empty() && i != last) {
            return Err(invalid());
        }
    }
    Ok(port)
}

/// `kong.tools.ip.normalize_ip`; the error is its message.
fn normalize_ip(address: &str) -> Result<NormalizedHost, String> {
    let kind = hostname_type(address);
    let port = match kind {
        HostKind::Ipv4 => normalize_ipv4(address)?,
        HostKind::Ipv6 => normalize_ipv6(address)?,
        HostKind::Name => check_hostname(address)?,
    };
    Ok(NormalizedHost { kind, port })
}

/// `typedefs.host`.
fn validate_host(host: &str) -> Result<(), String> {
    match normalize_ip(host) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {host}")),
        Err(_) => Err("must not have a port".to_string()),
        Ok(NormalizedHost { port: Some(_), .. }) => Err("must not have a port".to_string()),
        Ok(_) => Ok(()),
    }
}

/// `typedefs.sni`: a host name, not an IP, without a port.
fn validate_sni(host: &str) -> Result<(), String> {
    match normalize_ip(host) {
        Err(e) if e != INVALID_PORT => Err(format!("invalid value: {host}")),
        Err(_) => Err("must not have a port".to_string()),
        Ok(n) if n.kind != HostKind::Name => Err("must not be an IP".to_string()),
        Ok(NormalizedHost { port: Some(_), .. }) => Err("must not have a port".to_string()),
        Ok(_) => Ok(()),
    }
}

/// `typedefs.wildcard_host`: one `*`, as the first or last character; then as `sni`, with
/// the `*` replaced by `wildcard` (also in the messages, as Kong does).
fn validate_wildcard_host(host: &str) -> Result<(), String> {
    let Some(index) = host.find('*') else {
        return validate_sni(host);
    };
    if index != 0 && index != host.len() - 1 {
        return Err("wildcard must be leftmost or rightmost character".to_string());
    }
    if host.matches('*').count() > 1 {
        return Err("only one wildcard must be specified".to_string());
    }
    validate_sni(&host.replace('*', "wildcard"))
}

// ---------------------------------------------------------------------------------------------
// IP addresses and CIDR ranges: `kong.tools.ip` over `resty.ipmatcher` (`inet_pton`).

/// `ipmatcher.parse_ipv4`: `inet_pton(AF_INET)`, strict dotted quad.
fn parse_ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

/// `ipmatcher.parse_ipv6`: `inet_pton(AF_INET6)`, after dropping one pair of brackets.
fn parse_ipv6(s: &str) -> bool {
    let inner = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse::<Ipv6Addr>().is_ok()
}

fn is_valid_ip(s: &str) -> bool {
    parse_ipv4(s) || parse_ipv6(s)
}

/// `split_cidr`: the first `/` from the third byte on; the prefix length must be written
/// exactly as a number from 0 to `max` (no sign, no leading zero).
fn split_cidr(s: &str, max: u8) -> Option<&str> {
    let slash = s.bytes().skip(2).position(|b| b == b'/')? + 2;
    let prefix = &s[slash + 1..];
    let canonical = all_digits(prefix) && (prefix == "0" || !prefix.starts_with('0'));
    let length = prefix.parse::<u8>().ok().filter(|&n| n <= max);
    (canonical && length.is_some()).then(|| &s[..slash])
}

fn is_valid_cidr_v4(s: &str) -> bool {
    split_cidr(s, 32).is_some_and(parse_ipv4)
}

fn is_valid_cidr_v6(s: &str) -> bool {
    split_cidr(s, 128).is_some_and(parse_ipv6)
}

/// `typedefs.ip`.
fn validate_ip(ip: &str) -> Result<(), String> {
    if is_valid_ip(ip) {
        Ok(())
    } else {
        Err(format!("not an ip address: {ip}"))
    }
}

/// `typedefs.ip_or_cidr`.
fn validate_ip_or_cidr(value: &str) -> Result<(), String> {
    if is_valid_ip(value) || is_valid_cidr_v4(value) || is_valid_cidr_v6(value) {
        Ok(())
    } else {
        Err(format!("invalid ip or cidr range: '{value}'"))
    }
}

/// `typedefs.cidr_v4` (and its alias `cidr`): an IPv4 address or IPv4 CIDR range.
fn validate_cidr_v4(value: &str) -> Result<(), String> {
    if parse_ipv4(value) || is_valid_cidr_v4(value) {
        Ok(())
    } else {
        Err(format!("invalid ipv4 cidr range: '{value}'"))
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and URLs.

/// Kong's RFC 3986 character check for paths (`validate_path`).
const PATH_PATTERN: &[u8] = b"^/[%w%.%-%_%~%/%%%:%@%!%$%&%'%(%)%*%+%,%;%=]*$";

/// Which of `validate_path`'s two checks failed (Kong's third return value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathError {
    /// A character outside RFC 3986's unreserved and reserved sets.
    Rfc3986,
    /// A `%` not followed by two hex digits.
    Percent,
}

/// `typedefs.path`'s `custom_validator`.
fn validate_path(path: &str) -> Result<(), (String, PathError)> {
    if !lua_match(path.as_bytes(), PATH_PATTERN) {
        return Err((
            format!(
                "invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
            ),
            PathError::Rfc3986,
        ));
    }
    // Kong blanks every `%XX` to `___`, then reports the first `%` left with up to two bytes
    // after it.
    let bytes = path.as_bytes();
    let mut raw = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes[i] == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape {
            raw.extend_from_slice(b"___");
            i += 3;
        } else {
            raw.push(bytes[i]);
            i += 1;
        }
    }
    if let Some(at) = raw.iter().position(|&b| b == b'%') {
        let end = (at + 3).min(raw.len());
        let bad = String::from_utf8_lossy(&raw[at..end]);
        return Err((
            format!("invalid url-encoded value: '{bad}'"),
            PathError::Percent,
        ));
    }
    Ok(())
}

/// `typedefs.url`: LuaSocket's `url.parse` must find a host and a scheme.
fn validate_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("could not parse url. invalid url".to_string());
    }
    // scheme: `^([%w][%w%+%-%.]*)%:`
    let scheme_len = url
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
        .filter(|&end| end > 0 && url.as_bytes()[0].is_ascii_alphanumeric())
        .filter(|&end| url.as_bytes()[end] == b':');
    let rest = match scheme_len {
        Some(end) => &url[end + 1..],
        None => url,
    };
    // authority: `^//([^/%?#]*)`, then userinfo `^([^@]*)@` and port `:([^:%]]*)$` removed.
    let host = rest.strip_prefix("//").and_then(|after| {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..end];
        let authority = authority
            .split_once('@')
            .map_or(authority, |(_, host)| host);
        let authority = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => host,
            _ => authority,
        };
        (!authority.is_empty()).then_some(authority)
    });
    if host.is_none() {
        return Err("missing host in url".to_string());
    }
    if scheme_len.is_none() {
        return Err("missing scheme in url".to_string());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Router paths: `typedefs.router_path`.

/// `typedefs.router_path`: its `match_none`, `match_any`, then `validate_path_with_regexes`.
fn validate_router_path(path: &str) -> Result<(), String> {
    if lua_match(path.as_bytes(), b"//") {
        return Err("must not have empty segments".to_string());
    }
    if !lua_match(path.as_bytes(), b"^/") && !lua_match(path.as_bytes(), b"^~/") {
        return Err("should start with: / (fixed path) or ~/ (regex path)".to_string());
    }
    if let Err((message, PathError::Percent)) = validate_path(path) {
        return Err(message);
    }
    match path.strip_prefix('~') {
        None => {
            let normalized = normalize_uri(path.as_bytes());
            if normalized != path.as_bytes() {
                let normalized = String::from_utf8_lossy(&normalized);
                return Err(format!(
                    "non-normalized path, consider use '{normalized}' instead"
                ));
            }
            Ok(())
        }
        Some(regex) => regex::compile_check(regex).map_err(|error| {
            format!(
                "invalid regex: '{regex}' (PCRE returned: {})",
                regex::ngx_compile_error(regex, &error)
            )
        }),
    }
}

/// Reserved characters that `kong.tools.uri` keeps percent-encoded when decoding.
fn is_reserved(b: u8) -> bool {
    b"!#$%&'()*+,/:;=?@[]".contains(&b)
}

/// `kong.tools.uri.normalize(uri, true)`: decode `%XX` of unreserved bytes (upper-casing the
/// escapes of reserved ones), remove dot segments, merge slashes, then percent-encode every
/// byte outside RFC 3986's sets.
fn normalize_uri(uri: &[u8]) -> Vec<u8> {
    escape_uri(&remove_dot_segments(percent_decode_unreserved(uri)))
}

fn percent_decode_unreserved(uri: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(uri.len());
    let mut i = 0;
    while i < uri.len() {
        let hex = uri
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match hex {
            Some(hex) if uri[i] == b'%' => {
                let value = hex.iter().fold(0u8, |acc, &h| acc * 16 + hex_value(h));
                if is_reserved(value) {
                    out.push(b'%');
                    out.extend(hex.iter().map(u8::to_ascii_uppercase));
                } else {
                    out.push(value);
                }
                i += 3;
            }
            _ => {
                out.push(uri[i]);
                i += 1;
            }
        }
    }
    out
}

/// The value of an ASCII hex digit (callers check it is one).
fn hex_value(h: u8) -> u8 {
    match h {
        b'0'..=b'9' => h - b'0',
        b'a'..=b'f' => h - b'a' + 10,
        b'A'..=b'F' => h - b'A' + 10,
        _ => 0,
    }
}

/// The dot-segment and slash-merging loop of `kong.tools.uri.unescape`.
fn remove_dot_segments(uri: Vec<u8>) -> Vec<u8> {
    if uri.is_empty() || uri == b"/" {
        return uri;
    }
    if !uri.contains(&b'.') && !uri.windows(2).any(|w| w == b"//") {
        return uri;
    }
    let mut output: Vec<&[u8]> = Vec::new();
    let mut rest: &[u8] = &uri;
    while !rest.is_empty() {
        match rest {
            b"/." => rest = b"/",
            b"/.." => {
                rest = b"/";
                output.pop();
            }
            b"." | b".." => rest = b"",
            [b'.', b'.', b'/', tail @ ..] => rest = tail,
            [b'.', b'/', tail @ ..] => rest = tail,
            [b'/', b'.', b'/', ..] => rest = &rest[2..],
            [b'/', b'.', b'.', b'/', ..] => {
                rest = &rest[3..];
                output.pop();
            }
            [b'/', b'/', ..] => rest = &rest[1..],
            _ => {
                let end = rest
                    .iter()
                    .skip(1)
                    .position(|&b| b == b'/')
                    .map_or(rest.len(), |i| i + 1);
                output.push(&rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    output.concat()
}

/// `kong.tools.uri.escape`: `%XX` (upper case) for every byte but RFC 3986's unreserved and
/// reserved characters and `%`.
fn escape_uri(uri: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(uri.len());
    for &b in uri {
        if b.is_ascii_alphanumeric() || is_reserved(b) || b"-_.~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Names, headers, tags, versions.

/// `typedefs.header_name` (`validate_header_name`): `^[a-zA-Z0-9-_]+$`.
fn validate_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no header name provided".to_string());
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

/// `typedefs.cookie_name` (`validate_http_token`): an RFC 2616 token.
fn validate_cookie_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no token provided".to_string());
    }
    let forbidden = |b: u8| !(0x20..0x7f).contains(&b) || b" \t()<>@,;:\\\"/?={}[]".contains(&b);
    if name.bytes().any(forbidden) {
        return Err(
            "contains one or more invalid characters. ASCII control characters \
                    (0-31;127), space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed."
                .to_string(),
        );
    }
    Ok(())
}

/// `typedefs.utf8_name`: ASCII limited to alphanumerics and `. - _ ~`; non-ASCII UTF-8 allowed.
fn validate_utf8_name(name: &str) -> Result<(), String> {
    if lua_match(name.as_bytes(), b"^[%w%.%-%_~\x80-\xf4]+$") {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or \
             ., -, _, and ~"
        ))
    }
}

/// `typedefs.tag`: printable ASCII (space included) except `,` and `/`, or non-ASCII UTF-8.
fn validate_tag(tag: &str) -> Result<(), String> {
    if lua_match(tag.as_bytes(), b"^[ \x21-\x2b\x2d\x2e\x30-\x7e\x80-\xf4]+$") {
        Ok(())
    } else {
        Err(format!(
            "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 \
             sequences"
        ))
    }
}

/// `typedefs.semantic_version`: its `match_none`, then its `match_any`.
fn validate_semantic_version(version: &str) -> Result<(), String> {
    let v = version.as_bytes();
    if lua_match(v, b"%.%.") {
        return Err("must not have empty version segments".to_string());
    }
    if lua_match(v, b"^%d+[%.%d]*$") || lua_match(v, b"^%d+[%.%d]*%-?.*$") {
        Ok(())
    } else {
        Err("invalid version number: must be in format of X.Y.Z".to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates and keys.

/// `typedefs.certificate` / `typedefs.key`: at least one well-formed PEM block (matching
/// `BEGIN`/`END` labels, base64 body). OpenSSL's parse is not reproduced.
fn validate_pem(value: &str) -> Result<(), String> {
    const BEGIN: &str = "-----BEGIN ";
    let Some(start) = value.find(BEGIN) else {
        return Err("invalid certificate or key: no PEM block found".to_string());
    };
    let after = &value[start + BEGIN.len()..];
    let Some(label_end) = after.find("-----") else {
        return Err("invalid certificate or key: malformed PEM header".to_string());
    };
    let label = &after[..label_end];
    let noun = if label.contains("KEY") {
        "key"
    } else {
        "certificate"
    };
    let end_marker = format!("-----END {label}-----");
    let body = &after[label_end + 5..];
    let Some(body_end) = body.find(&end_marker) else {
        return Err(format!("invalid {noun}: missing '{end_marker}'"));
    };
    // Encrypted keys carry `Name: value` header lines before the base64; skip them.
    let encoded: String = body[..body_end]
        .lines()
        .map(str::trim)
        .filter(|line| !line.contains(':'))
        .collect();
    let trimmed = encoded.trim_end_matches('=');
    let valid = !encoded.is_empty()
        && encoded.len() % 4 == 0
        && encoded.len() - trimmed.len() <= 2
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if valid {
        Ok(())
    } else {
        Err(format!("invalid {noun}: bad base64 data in PEM block"))
    }
}

// ---------------------------------------------------------------------------------------------
// Lua code: `typedefs.lua_code` values go through `sandbox.validate_safe`, a `load` of the text.

/// The value must be Lua that LuaJIT loads; the error is Kong's prefix and LuaJIT's own message,
/// with the chunk named by its text as `load` names it (`[string "…"]`, shortened by LuaJIT).
fn validate_lua_code(code: &str) -> Result<(), String> {
    match crate::luasyntax::luajit_load_error(code, code) {
        None => Ok(()),
        Some(message) => Err(format!("Error parsing function: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(builtin, value, Kong's error or None when valid)`.
    const CASES: &[(Builtin, &str, Option<&str>)] = &[
        // host / redis_host
        (Builtin::Host, "example.com", None),
        (Builtin::Host, "localhost", None),
        (Builtin::Host, "example.com.", None),
        (Builtin::Host, "my_host.internal", None),
        (Builtin::Host, "-lead.example.com", None),
        (Builtin::Host, "1.2.3.4", None),
        (Builtin::Host, "01.002.3.4", None),
        (Builtin::Host, "::1", None),
        (Builtin::Host, "[::1]", None),
        (Builtin::Host, "2001:db8::8a2e:370:7334", None),
        (Builtin::Host, "trail-.example.com", Some("invalid value: trail-.example.com")),
        (Builtin::Host, "a..b", Some("invalid value: a..b")),
        (Builtin::Host, ".example.com", Some("invalid value: .example.com")),
        (Builtin::Host, "exa mple.com", Some("invalid value: exa mple.com")),
        (Builtin::Host, "*.example.com", Some("invalid value: *.example.com")),
        (Builtin::Host, "example.com:abc", Some("invalid value: example.com:abc")),
        (Builtin::Host, "1.2.3", Some("invalid value: 1.2.3")),
        (Builtin::Host, "1234", Some("invalid value: 1234")),
        (Builtin::Host, "256.1.1.1", Some("invalid value: 256.1.1.1")),
        (Builtin::Host, "::ffff:1.2.3.4", Some("invalid value: ::ffff:1.2.3.4")),
        (Builtin::Host, "1:2:3:4:5:6:7:8:9", Some("invalid value: 1:2:3:4:5:6:7:8:9")),
        (Builtin::Host, "[::1]x", Some("invalid value: [::1]x")),
        (Builtin::Host, "example.com:80", Some("must not have a port")),
        (Builtin::Host, "example.com:99999", Some("must not have a port")),
        (Builtin::Host, "1.2.3.4:80", Some("must not have a port")),
        (Builtin::Host, "[::1]:80", Some("must not have a port")),
        (Builtin::Host, "[::1]:", Some("must not have a port")),
        // host_with_optional_port: normalize_ip's own messages
        (Builtin::HostWithOptionalPort, "example.com", None),
        (Builtin::HostWithOptionalPort, "example.com:8080", None),
        (Builtin::HostWithOptionalPort, "example.com:008080", None),
        (Builtin::HostWithOptionalPort, "1.2.3.4:80", None),
        (Builtin::HostWithOptionalPort, "[::1]:8080", None),
        (Builtin::HostWithOptionalPort, "example.com:65536", Some("invalid port number")),
        (Builtin::HostWithOptionalPort, "1.2.3.4:99999999999999999999", Some("invalid port number")),
        (Builtin::HostWithOptionalPort, "[::1]:70000", Some("invalid port number")),
        (Builtin::HostWithOptionalPort, "bad host", Some("invalid hostname: bad host")),
        (Builtin::HostWithOptionalPort, "1.2.3.300", Some("invalid ipv4 address: 1.2.3.300")),
        (Builtin::HostWithOptionalPort, "1.2.3.4:", Some("invalid ipv4 address: 1.2.3.4:")),
        (Builtin::HostWithOptionalPort, "::g", Some("invalid ipv6 address: ::g")),
        (Builtin::HostWithOptionalPort, "[::1]x", Some("invalid ipv6 address")),
        (Builtin::HostWithOptionalPort, "[::1", Some("invalid ipv6 address: [::1")),
        // wildcard_host
        (Builtin::WildcardHost, "*.example.com", None),
        (Builtin::WildcardHost, "example.*", None),
        (Builtin::WildcardHost, "example.com", None),
        (Builtin::WildcardHost, "*", None),
        (Builtin::WildcardHost, "ex*ample.com", Some("wildcard must be leftmost or rightmost character")),
        (Builtin::WildcardHost, "*.example.*", Some("only one wildcard must be specified")),
        (Builtin::WildcardHost, "*.exa mple.com", Some("invalid value: wildcard.exa mple.com")),
        (Builtin::WildcardHost, "*.example.com:80", Some("must not have a port")),
        (Builtin::WildcardHost, "1.2.3.4", Some("must not be an IP")),
        // sni / redis_server_name
        (Builtin::Sni, "example.com", None),
        (Builtin::Sni, "1.2.3.4", Some("must not be an IP")),
        (Builtin::Sni, "1.2.3.4:443", Some("must not be an IP")),
        (Builtin::Sni, "::1", Some("must not be an IP")),
        (Builtin::Sni, "example.com:443", Some("must not have a port")),
        (Builtin::Sni, "example.com:99999", Some("must not have a port")),
        (Builtin::Sni, "bad_sni!", Some("invalid value: bad_sni!")),
        // ip
        (Builtin::Ip, "1.2.3.4", None),
        (Builtin::Ip, "0.0.0.0", None),
        (Builtin::Ip, "::1", None),
        (Builtin::Ip, "[::1]", None),
        (Builtin::Ip, "::ffff:1.2.3.4", None),
        (Builtin::Ip, "01.2.3.4", Some("not an ip address: 01.2.3.4")),
        (Builtin::Ip, "1.2.3", Some("not an ip address: 1.2.3")),
        (Builtin::Ip, "1.2.3.4/24", Some("not an ip address: 1.2.3.4/24")),
        (Builtin::Ip, "fe80::1%eth0", Some("not an ip address: fe80::1%eth0")),
        (Builtin::Ip, "example.com", Some("not an ip address: example.com")),
        (Builtin::Ip, "[1.2.3.4]", Some("not an ip address: [1.2.3.4]")),
        // ip_or_cidr
        (Builtin::IpOrCidr, "10.0.0.1", None),
        (Builtin::IpOrCidr, "10.0.0.0/8", None),
        (Builtin::IpOrCidr, "10.0.0.0/0", None),
        (Builtin::IpOrCidr, "10.0.0.0/32", None),
        (Builtin::IpOrCidr, "::/0", None),
        (Builtin::IpOrCidr, "2001:db8::/32", None),
        (Builtin::IpOrCidr, "[::1]/128", None),
        (Builtin::IpOrCidr, "10.0.0.0/33", Some("invalid ip or cidr range: '10.0.0.0/33'")),
        (Builtin::IpOrCidr, "10.0.0.0/08", Some("invalid ip or cidr range: '10.0.0.0/08'")),
        (Builtin::IpOrCidr, "10.0.0.0/", Some("invalid ip or cidr range: '10.0.0.0/'")),
        (Builtin::IpOrCidr, "10.0.0.0/8/8", Some("invalid ip or cidr range: '10.0.0.0/8/8'")),
        (Builtin::IpOrCidr, "::/129", Some("invalid ip or cidr range: '::/129'")),
        (Builtin::IpOrCidr, "/8", Some("invalid ip or cidr range: '/8'")),
        (Builtin::IpOrCidr, "foo", Some("invalid ip or cidr range: 'foo'")),
        // cidr_v4 / cidr
        (Builtin::CidrV4, "10.0.0.0/8", None),
        (Builtin::CidrV4, "10.0.0.1", None),
        (Builtin::CidrV4, "::/0", Some("invalid ipv4 cidr range: '::/0'")),
        (Builtin::CidrV4, "::1", Some("invalid ipv4 cidr range: '::1'")),
        (Builtin::CidrV4, "10.0.0.0/33", Some("invalid ipv4 cidr range: '10.0.0.0/33'")),
        // path (custom_validator only)
        (Builtin::Path, "/", None),
        (Builtin::Path, "/foo/bar", None),
        (Builtin::Path, "/a%20b%2F", None),
        (Builtin::Path, "/a-b_c.d~e", None),
        (Builtin::Path, "/:@!$&'()*+,;=", None),
        (Builtin::Path, "/a b", Some("invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)")),
        (Builtin::Path, "/a?b", Some("invalid path: '/a?b' (characters outside of the reserved list of RFC 3986 found)")),
        (Builtin::Path, "foo", Some("invalid path: 'foo' (characters outside of the reserved list of RFC 3986 found)")),
        (Builtin::Path, "/caf\u{e9}", Some("invalid path: '/caf\u{e9}' (characters outside of the reserved list of RFC 3986 found)")),
        (Builtin::Path, "/a%zz", Some("invalid url-encoded value: '%zz'")),
        (Builtin::Path, "/a%2", Some("invalid url-encoded value: '%2'")),
        (Builtin::Path, "/a%", Some("invalid url-encoded value: '%'")),
        (Builtin::Path, "/%%41", Some("invalid url-encoded value: '%__'")),
        // url
        (Builtin::Url, "http://example.com", None),
        (Builtin::Url, "https://user:pw@example.com:8443/p;x?q=1#f", None),
        (Builtin::Url, "http://[::1]:8080/", None),
        (Builtin::Url, "redis://localhost", None),
        (Builtin::Url, "example.com", Some("missing host in url")),
        (Builtin::Url, "localhost:8080", Some("missing host in url")),
        (Builtin::Url, "http://", Some("missing host in url")),
        (Builtin::Url, "http://:80", Some("missing host in url")),
        (Builtin::Url, "http://user@/x", Some("missing host in url")),
        (Builtin::Url, "http:example.com", Some("missing host in url")),
        (Builtin::Url, "//example.com/x", Some("missing scheme in url")),
        (Builtin::Url, "", Some("could not parse url. invalid url")),
        // cookie_name
        (Builtin::CookieName, "session", None),
        (Builtin::CookieName, "!#$%&'*+-.^_`|~", None),
        (Builtin::CookieName, "my cookie", Some(COOKIE_ERROR)),
        (Builtin::CookieName, "a=b", Some(COOKIE_ERROR)),
        (Builtin::CookieName, "a\tb", Some(COOKIE_ERROR)),
        (Builtin::CookieName, "caf\u{e9}", Some(COOKIE_ERROR)),
        (Builtin::CookieName, "", Some("no token provided")),
        // header_name
        (Builtin::HeaderName, "X-Custom_Header1", None),
        (Builtin::HeaderName, "x y", Some("bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'")),
        (Builtin::HeaderName, "x.y", Some("bad header name 'x.y', allowed characters are A-Z, a-z, 0-9, '_', and '-'")),
        (Builtin::HeaderName, "", Some("no header name provided")),
        // utf8_name
        (Builtin::Utf8Name, "my-name_1.0~", None),
        (Builtin::Utf8Name, "caf\u{e9}-1", None),
        (Builtin::Utf8Name, "\u{540d}\u{524d}", None),
        (Builtin::Utf8Name, "my name", Some("invalid value 'my name': the only accepted ascii characters are alphanumerics or ., -, _, and ~")),
        (Builtin::Utf8Name, "a/b", Some("invalid value 'a/b': the only accepted ascii characters are alphanumerics or ., -, _, and ~")),
        // tag
        (Builtin::Tag, "prod", None),
        (Builtin::Tag, "team:payments", None),
        (Builtin::Tag, "with space", None),
        (Builtin::Tag, "!#$%&()*+", None),
        (Builtin::Tag, "\u{65e5}\u{672c}", None),
        (Builtin::Tag, "a,b", Some("invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences")),
        (Builtin::Tag, "a/b", Some("invalid tag 'a/b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences")),
        (Builtin::Tag, "a\tb", Some("invalid tag 'a\tb': expected printable ascii (except `,` and `/`) or valid utf-8 sequences")),
        (Builtin::Tag, "\u{7f}", Some("invalid tag '\u{7f}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences")),
        // semantic_version
        (Builtin::SemanticVersion, "1.0.0", None),
        (Builtin::SemanticVersion, "1", None),
        (Builtin::SemanticVersion, "10.20.30.40", None),
        (Builtin::SemanticVersion, "1.2.3-beta.1", None),
        (Builtin::SemanticVersion, "3.4.0.0-enterprise-edition", None),
        (Builtin::SemanticVersion, "v1.0.0", Some("invalid version number: must be in format of X.Y.Z")),
        (Builtin::SemanticVersion, ".1", Some("invalid version number: must be in format of X.Y.Z")),
        (Builtin::SemanticVersion, "1..0", Some("must not have empty version segments")),
        (Builtin::SemanticVersion, "x..y", Some("must not have empty version segments")),
        // router_path
        (Builtin::RouterPath, "/", None),
        (Builtin::RouterPath, "/foo/bar/", None),
        (Builtin::RouterPath, "/foo%20bar%2F", None),
        (Builtin::RouterPath, "/a.b/c..d", None),
        (Builtin::RouterPath, "~/users/(?<id>\\d+)$", None),
        (Builtin::RouterPath, "~/(?:a|b)+?/[^/]{2,}/x{/[]a]/[[:alpha:]]*", None),
        (Builtin::RouterPath, "~/(?i)abc(?#note)\\Q(*\\E", None),
        (Builtin::RouterPath, "foo", Some("should start with: / (fixed path) or ~/ (regex path)")),
        (Builtin::RouterPath, "~foo", Some("should start with: / (fixed path) or ~/ (regex path)")),
        (Builtin::RouterPath, "/a//b", Some("must not have empty segments")),
        (Builtin::RouterPath, "x//", Some("must not have empty segments")),
        (Builtin::RouterPath, "/a%zz", Some("invalid url-encoded value: '%zz'")),
        (Builtin::RouterPath, "/a/./b", Some("non-normalized path, consider use '/a/b' instead")),
        (Builtin::RouterPath, "/a/../b", Some("non-normalized path, consider use '/b' instead")),
        (Builtin::RouterPath, "/a/.", Some("non-normalized path, consider use '/a/' instead")),
        (Builtin::RouterPath, "/..", Some("non-normalized path, consider use '/' instead")),
        (Builtin::RouterPath, "/foo%2fbar", Some("non-normalized path, consider use '/foo%2Fbar' instead")),
        (Builtin::RouterPath, "/foo%41", Some("non-normalized path, consider use '/fooA' instead")),
        (Builtin::RouterPath, "/a%7e", Some("non-normalized path, consider use '/a~' instead")),
        (Builtin::RouterPath, "/a b", Some("non-normalized path, consider use '/a%20b' instead")),
        (Builtin::RouterPath, "/caf\u{e9}", Some("non-normalized path, consider use '/caf%C3%A9' instead")),
        (Builtin::RouterPath, "~/foo(", Some("invalid regex: '/foo(' (PCRE returned: pcre2_compile() failed: missing closing parenthesis in \"/foo(\")")),
        (Builtin::RouterPath, "~/foo)x", Some("invalid regex: '/foo)x' (PCRE returned: pcre2_compile() failed: unmatched closing parenthesis in \"/foo)x\" at \")x\")")),
        (Builtin::RouterPath, "~/[a", Some("invalid regex: '/[a' (PCRE returned: pcre2_compile() failed: missing terminating ] for character class in \"/[a\")")),
        (Builtin::RouterPath, "~/a|*b", Some("invalid regex: '/a|*b' (PCRE returned: pcre2_compile() failed: quantifier does not follow a repeatable item in \"/a|*b\" at \"*b\")")),
        (Builtin::RouterPath, "~/(+)", Some("invalid regex: '/(+)' (PCRE returned: pcre2_compile() failed: quantifier does not follow a repeatable item in \"/(+)\" at \"+)\")")),
        (Builtin::RouterPath, "~/a**", Some("invalid regex: '/a**' (PCRE returned: pcre2_compile() failed: quantifier does not follow a repeatable item in \"/a**\" at \"*\")")),
        (Builtin::RouterPath, "~/a{3,1}", Some("invalid regex: '/a{3,1}' (PCRE returned: pcre2_compile() failed: numbers out of order in {} quantifier in \"/a{3,1}\" at \"}\")")),
        (Builtin::RouterPath, "~/a\\", Some("invalid regex: '/a\\' (PCRE returned: pcre2_compile() failed: \\ at end of pattern in \"/a\\\")")),
        // Errors only the real engine sees: a bad group name, an unbounded lookbehind.
        (Builtin::RouterPath, "~/x(?<1a>y)", Some("invalid regex: '/x(?<1a>y)' (PCRE returned: pcre2_compile() failed: subpattern name must start with a non-digit in \"/x(?<1a>y)\" at \"1a>y)\")")),
        (Builtin::RouterPath, "~/(?<=a+)b", Some("invalid regex: '/(?<=a+)b' (PCRE returned: pcre2_compile() failed: length of lookbehind assertion is not limited in \"/(?<=a+)b\" at \"(?<=a+)b\")")),
        (Builtin::RouterPath, "~/v(?<n>\\d+)/(?<=v\\d)x", None),
        // certificate / key
        (Builtin::Pem, CERT, None),
        (Builtin::Pem, ENCRYPTED_KEY, None),
        (Builtin::Pem, "not a certificate", Some("invalid certificate or key: no PEM block found")),
        (Builtin::Pem, "-----BEGIN CERTIFICATE-----\nMIIB\n", Some("invalid certificate: missing '-----END CERTIFICATE-----'")),
        (Builtin::Pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----", Some("invalid certificate: missing '-----END CERTIFICATE-----'")),
        (Builtin::Pem, "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----", Some("invalid key: bad base64 data in PEM block")),
        (Builtin::Pem, "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----", Some("invalid key: bad base64 data in PEM block")),
        (Builtin::Pem, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", Some("invalid certificate: bad base64 data in PEM block")),
        // lua_code values
        (Builtin::LuaCode, "return 1", None),
        (Builtin::LuaCode, "local x = kong.request.get_header('x')\nreturn x ~= nil", None),
        (Builtin::LuaCode, "goto done ::done::", None),
        (Builtin::LuaCode, "if x then", Some("Error parsing function: [string \"if x then\"]:1: 'end' expected near '<eof>'")),
        (Builtin::LuaCode, "x = 'unclosed", Some("Error parsing function: [string \"x = 'unclosed\"]:1: unfinished string near '<eof>'")),
    ];

    const COOKIE_ERROR: &str = "contains one or more invalid characters. ASCII control characters \
        (0-31;127), space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed.";

    const CERT: &str = "-----BEGIN CERTIFICATE-----\n\
        MIIBszCCAVmgAwIBAgIUW1h0\n\
        ZXN0Y2VydA==\n\
        -----END CERTIFICATE-----\n";

    const ENCRYPTED_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        Proc-Type: 4,ENCRYPTED\n\
        DEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\
        \n\
        MIIEowIBAAKCAQEA\n\
        -----END RSA PRIVATE KEY-----";

    #[test]
    fn every_builtin_follows_kong() {
        for &(builtin, value, expected) in CASES {
            assert_eq!(
                check(builtin, value),
                expected.map_or(Ok(()), |e| Err(e.to_string())),
                "{}({value:?})",
                builtin.name()
            );
        }
    }

    #[test]
    fn every_builtin_has_valid_and_invalid_cases() {
        for builtin in Builtin::ALL {
            let cases = || CASES.iter().filter(move |(b, _, _)| *b == builtin);
            assert!(
                cases().any(|c| c.2.is_none()),
                "{} has no valid case",
                builtin.name()
            );
            assert!(
                cases().any(|c| c.2.is_some()),
                "{} has no invalid case",
                builtin.name()
            );
        }
    }

    #[test]
    fn chunk_names_follow_luajit() {
        let cases: &[(&str, &str)] = &[
            ("return +", "[string \"return +\"]"),
            // Up to 48 printable bytes are shown whole.
            (&"x".repeat(48), &format!("[string \"{}\"]", "x".repeat(48))),
            // Longer, or with a control byte, is cut at 45 bytes or at the control byte.
            (
                &"x".repeat(49),
                &format!("[string \"{}...\"]", "x".repeat(45)),
            ),
            ("local x = 1\nlocal y =", "[string \"local x = 1...\"]"),
            ("local\tx =", "[string \"local...\"]"),
            ("\nreturn +", "[string \"...\"]"),
            ("=name", "name"),
            ("@file.lua", "file.lua"),
            (
                &format!("@{}", "d/".repeat(40)),
                &format!("...{}", "d/".repeat(28)),
            ),
        ];
        for &(code, expected) in cases {
            let Err(message) = check(Builtin::LuaCode, code) else {
                panic!("{code:?} should not load");
            };
            let prefix = format!("Error parsing function: {expected}:");
            assert!(message.starts_with(&prefix), "{code:?}: {message}");
        }
        let long = format!("local x = {}", "1 + ".repeat(20));
        let Err(message) = check(Builtin::LuaCode, &long) else {
            panic!("{long:?} should not parse");
        };
        let prefix = "Error parsing function: \
            [string \"local x = 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 +...\"]:1: ";
        assert!(message.starts_with(prefix), "{message}");
    }

    #[test]
    fn hostname_type_is_by_exclusion() {
        assert_eq!(hostname_type("1.2.3.4:80"), HostKind::Ipv4);
        assert_eq!(hostname_type("1.2"), HostKind::Ipv4);
        assert_eq!(hostname_type("some::thing"), HostKind::Ipv6);
        assert_eq!(hostname_type("example.com:80"), HostKind::Name);
        assert_eq!(hostname_type(":"), HostKind::Name);
    }

    #[test]
    fn normalization_matches_kong_tools_uri() {
        let cases: &[(&str, &str)] = &[
            ("/", "/"),
            ("/a/b/c", "/a/b/c"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/../a", "/a"),
            ("/a//b", "/a/b"),
            ("/%7euser/%2e%2E/x", "/x"),
            ("/%41%2f%3A", "/A%2F%3A"),
            ("/a\"b<c>", "/a%22b%3Cc%3E"),
            ("/%00", "/%00"),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&normalize_uri(input.as_bytes())),
                expected,
                "normalize({input:?})"
            );
        }
    }
}
