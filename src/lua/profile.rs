//! Kong's streamed-plugin sandboxes as data: the globals a schema and a handler chunk see and the
//! modules each may `require`, by Kong version (`reference/kong-sandbox.md` §2.3, §2.6, §3.2,
//! §3.3, §7.3).
//!
//! A [`Profile`] names one of Kong's environments. `3.10` follows the public 3.10 code (the
//! handler `require` list after February 2025, 154 names); `3.10-early` the December 2024 list
//! (88 names); `strict` and `lax` the 3.14+ `untrusted_lua` modes as Kong's docs list them.
//! Schemas get the same environment under every profile: the 3.14+ schema lists are not public,
//! and `docs/kong-fidelity.md` says so.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One of Kong's sandbox environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileName {
    /// Kong 3.10–3.13, `untrusted_lua = sandbox`, the handler list after Feb 2025.
    Kong310,
    /// Kong 3.10 as first published (Dec 2024): the shorter handler `require` list.
    Kong310Early,
    /// Kong 3.14+, `untrusted_lua = strict` (3.14's default).
    Strict,
    /// Kong 3.14+, `untrusted_lua = lax`.
    Lax,
}

/// The profile used when neither a flag nor the target says otherwise.
pub const DEFAULT_PROFILE: ProfileName = ProfileName::Kong310;

impl ProfileName {
    /// Every profile, in the order `--help` lists them.
    pub const ALL: [ProfileName; 4] = [
        ProfileName::Kong310,
        ProfileName::Kong310Early,
        ProfileName::Strict,
        ProfileName::Lax,
    ];

    /// The name users type (`--sandbox-profile`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::Kong310 => "3.10",
            ProfileName::Kong310Early => "3.10-early",
            ProfileName::Strict => "strict",
            ProfileName::Lax => "lax",
        }
    }

    /// Parses a profile name.
    pub fn parse(text: &str) -> Result<ProfileName, String> {
        ProfileName::ALL
            .into_iter()
            .find(|p| p.as_str() == text.trim())
            .ok_or_else(|| {
                format!(
                    "unknown sandbox profile `{}`; expected one of: {}",
                    text.trim(),
                    ProfileName::ALL.map(ProfileName::as_str).join(", ")
                )
            })
    }

    /// The profile Kong `version` runs streamed plugins with by default: 3.10–3.13 the `sandbox`
    /// lists, 3.14 and later `strict` (the new default of `untrusted_lua`). Versions before 3.10
    /// cannot stream plugins.
    pub fn for_kong_version(version: &str) -> Result<ProfileName, String> {
        let (major, minor) = major_minor(version).ok_or_else(|| {
            format!("cannot read a Kong version from `{version}` (expected e.g. 3.10 or 3.14.0.2)")
        })?;
        match (major, minor) {
            (3, 10..=13) => Ok(ProfileName::Kong310),
            (3, m) if m >= 14 => Ok(ProfileName::Strict),
            (m, _) if m > 3 => Ok(ProfileName::Strict),
            _ => Err(format!(
                "Kong {version} cannot stream custom plugins: streaming needs Kong Gateway 3.10 or later"
            )),
        }
    }

    /// The Kong version whose `kong.version` and `kong.meta.version` the sandbox reports.
    pub fn kong_version(self) -> &'static str {
        match self {
            ProfileName::Kong310 | ProfileName::Kong310Early => "3.10.0.0",
            ProfileName::Strict | ProfileName::Lax => "3.14.0.0",
        }
    }

    /// The `untrusted_lua` mode this profile stands for.
    pub fn untrusted_lua(self) -> &'static str {
        match self {
            ProfileName::Kong310 | ProfileName::Kong310Early => "sandbox",
            ProfileName::Strict => "strict",
            ProfileName::Lax => "lax",
        }
    }

    /// The profile's data.
    pub fn profile(self) -> &'static Profile {
        static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
        let all = PROFILES.get_or_init(|| ProfileName::ALL.map(Profile::build).to_vec());
        &all[ProfileName::ALL
            .iter()
            .position(|p| *p == self)
            .unwrap_or_default()]
    }
}

impl Default for ProfileName {
    fn default() -> ProfileName {
        DEFAULT_PROFILE
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The profile a Kong node runs streamed plugins with, from its node-information document
/// (`GET /` on the Admin API): `configuration.untrusted_lua` when the node reports it
/// (`sandbox` → `3.10`, `strict`, `lax`), else its `version`. `None` when the document says
/// neither; `Err` when the node cannot run streamed plugins (`untrusted_lua = off`, or a
/// version before 3.10).
pub fn profile_from_node_info(
    info: &serde_json::Value,
) -> Option<Result<(ProfileName, String), String>> {
    let version = info.get("version").and_then(|v| v.as_str());
    let mode = info
        .pointer("/configuration/untrusted_lua")
        .and_then(|v| v.as_str());
    let shown = |what: &str| match version {
        Some(v) => format!("Kong {v}, {what}"),
        None => what.to_string(),
    };
    match mode {
        Some("sandbox") => {
            let profile = match version.map(ProfileName::for_kong_version) {
                Some(Err(e)) => return Some(Err(e)),
                _ => ProfileName::Kong310,
            };
            Some(Ok((profile, shown("untrusted_lua = sandbox"))))
        }
        Some("strict") => Some(Ok((ProfileName::Strict, shown("untrusted_lua = strict")))),
        Some("lax") => Some(Ok((ProfileName::Lax, shown("untrusted_lua = lax")))),
        Some("off") => Some(Err(format!(
            "the target has untrusted_lua = off ({}): Kong refuses every streamed plugin",
            version.unwrap_or("unknown version")
        ))),
        Some("on") => Some(Ok((
            ProfileName::Lax,
            shown("untrusted_lua = on, checked as lax"),
        ))),
        _ => version.map(|v| ProfileName::for_kong_version(v).map(|p| (p, format!("Kong {v}")))),
    }
}

/// `(major, minor)` of a version string such as `3.10.0.1-enterprise-edition` or `v3.14`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let start = version.find(|c: char| c.is_ascii_digit())?;
    let mut parts = version[start..].split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The environments of one profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: ProfileName,
    /// Dotted paths of every value a handler chunk sees (`bit.band`, `kong.log.err`, …).
    pub handler_globals: BTreeSet<&'static str>,
    /// Modules a handler may `require`.
    pub handler_requires: BTreeSet<&'static str>,
}

impl Profile {
    fn build(name: ProfileName) -> Profile {
        let mut handler_globals: BTreeSet<&'static str> = expand(LUA_GLOBALS)
            .chain(expand(HANDLER_GLOBALS_3_10))
            .collect();
        let mut handler_requires: BTreeSet<&'static str> = expand(HANDLER_REQUIRES_3_10)
            .chain(expand(CLOUD_SUBMODULES))
            .collect();
        match name {
            ProfileName::Kong310 => {}
            ProfileName::Kong310Early => {
                let newer: BTreeSet<&str> = expand(HANDLER_REQUIRES_ADDED_FEB_2025)
                    .chain(expand(CLOUD_SUBMODULES))
                    .collect();
                handler_requires.retain(|m| !newer.contains(m));
            }
            ProfileName::Strict | ProfileName::Lax => {
                handler_globals.extend(expand(GLOBALS_ADDED_3_14));
                handler_requires.extend(expand(REQUIRES_ADDED_3_14));
                if name == ProfileName::Strict {
                    let lax: BTreeSet<&str> = expand(LAX_ONLY_GLOBALS).collect();
                    handler_globals.retain(|g| !lax.iter().any(|l| covers(l, g)));
                    let lax: BTreeSet<&str> = expand(LAX_ONLY_REQUIRES)
                        .chain(expand(CLOUD_SUBMODULES))
                        .collect();
                    handler_requires.retain(|m| !lax.contains(m));
                } else {
                    handler_globals.extend(expand(LAX_ADDED_GLOBALS));
                }
            }
        }
        Profile {
            name,
            handler_globals,
            handler_requires,
        }
    }

    /// Whether a handler may `require` `module` under this profile, or because the user added it
    /// with `--sandbox-requires`.
    pub fn handler_may_require(&self, module: &str, extra: &[String]) -> bool {
        self.handler_requires.contains(module) || extra.iter().any(|m| m == module)
    }
}

/// Whether the dotted path `outer` is `inner` or one of its ancestors.
fn covers(outer: &str, inner: &str) -> bool {
    inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The globals of a schema chunk: the Lua part that every environment shares (§2.3).
pub fn schema_globals() -> &'static BTreeSet<&'static str> {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| expand(LUA_GLOBALS).collect())
}

/// The modules a schema chunk may `require` (§2.6), the same under every profile.
pub fn schema_requires() -> &'static BTreeSet<&'static str> {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| expand(SCHEMA_REQUIRES).collect())
}

/// Expands `("prefix", "a b c")` rows into `prefix.a`, `prefix.b`, … (`""` prefix: bare names).
fn expand(rows: &'static [(&'static str, &'static str)]) -> impl Iterator<Item = &'static str> {
    rows.iter().flat_map(|(prefix, names)| {
        names.split_whitespace().map(move |n| {
            if prefix.is_empty() {
                n
            } else {
                joined(prefix, n)
            }
        })
    })
}

/// `prefix.name`, interned for the life of the process (the lists are static and small).
fn joined(prefix: &str, name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let key = format!("{prefix}.{name}");
    let mut set = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = set.get(key.as_str()) {
        return s;
    }
    let leaked: &'static str = Box::leak(key.into_boxed_str());
    set.insert(leaked);
    leaked
}

// ----- the lists (reference/kong-sandbox.md) -----

/// §2.3: the Lua globals of both environments (`require` and `_G` are added by the sandbox).
const LUA_GLOBALS: &[(&str, &str)] = &[
    ("", "_VERSION assert error ipairs next pairs pcall print select tonumber tostring type unpack xpcall"),
    ("bit", "arshift band bnot bor bswap bxor lshift rol ror rshift tobit tohex"),
    ("coroutine", "create resume running status wrap yield"),
    ("io", "type"),
    ("jit", "os arch version version_num"),
    ("os", "clock date difftime time"),
    ("math", "abs acos asin atan atan2 ceil cos cosh deg exp floor fmod frexp huge ldexp log log10 max min modf pi pow rad random sin sinh sqrt tan tanh"),
    ("string", "byte char find format gmatch gsub len lower match rep reverse sub upper"),
    ("table", "clear clone concat foreach foreachi getn insert isarray isempty maxn move new nkeys pack remove sort unpack"),
];

/// §3.2: what a handler sees besides [`LUA_GLOBALS`] (3.10 code).
const HANDLER_GLOBALS_3_10: &[(&str, &str)] = &[
    ("kong", "default_workspace version version_num configuration"),
    ("kong.ctx", "shared plugin"),
    ("kong.cache", "get get_bulk probe invalidate invalidate_local safe_set renew"),
    ("kong.client", "authenticate authenticate_consumer_group_by_consumer_id get_consumer get_consumer_group get_consumer_groups get_credential get_forwarded_ip get_forwarded_port get_ip get_port get_protocol load_consumer set_authenticated_consumer_group set_authenticated_consumer_groups"),
    ("kong.client.tls", "disable_session_reuse get_full_client_certificate_chain request_client_certificate set_client_verify"),
    ("kong.cluster", "get_id"),
    ("kong.db.certificates", "cache_key select select_by_cache_key"),
    ("kong.db.consumers", "cache_key select select_by_cache_key select_by_custom_id select_by_username select_by_username_ignore_case"),
    ("kong.db.keys", "cache_key select select_by_cache_key select_by_name"),
    ("kong.db.plugins", "cache_key select select_by_cache_key select_by_instance_name"),
    ("kong.db.routes", "cache_key select select_by_cache_key select_by_name"),
    ("kong.db.services", "cache_key select select_by_cache_key select_by_name"),
    ("kong.db.snis", "cache_key select select_by_cache_key select_by_name"),
    ("kong.db.targets", "cache_key select select_by_cache_key select_by_target"),
    ("kong.db.upstreams", "cache_key select select_by_cache_key select_by_name"),
    ("kong.dns", "resolve toip"),
    ("kong.ip", "is_trusted"),
    ("kong.jwe", "decode decrypt encrypt"),
    ("kong.log", "alert crit debug emerg err info notice serialize set_serialize_value warn"),
    ("kong.log.deprecation", "write"),
    ("kong.log.inspect", "on off"),
    ("kong.nginx", "get_statistics get_subsystem"),
    ("kong.node", "get_hostname get_id get_memory_stats"),
    ("kong.plugin", "get_id"),
    ("kong.request", "get_body get_forwarded_host get_forwarded_path get_forwarded_port get_forwarded_prefix get_forwarded_scheme get_header get_headers get_host get_http_version get_method get_path get_path_with_query get_port get_query get_query_arg get_raw_body get_raw_path get_raw_query get_scheme get_start_time get_uri_captures"),
    ("kong.response", "add_header clear_header error exit get_header get_headers get_raw_body get_source get_status set_header set_headers set_raw_body set_status"),
    ("kong.router", "get_route get_service"),
    ("kong.service", "set_retries set_target set_target_retry_callback set_timeouts set_tls_cert_key set_tls_verify set_tls_verify_depth set_tls_verify_store set_upstream"),
    ("kong.service.request", "add_header clear_header clear_query_arg enable_buffering set_body set_header set_headers set_method set_path set_query set_raw_body set_raw_query set_scheme"),
    ("kong.service.response", "get_body get_header get_headers get_raw_body get_status"),
    ("kong.table", "clear merge"),
    ("kong.telemetry", "log"),
    ("kong.tracing", "create_span get_sampling_decision link_span process_span set_active_span set_should_sample start_span"),
    ("kong.vault", "get is_reference parse_reference try update"),
    ("kong.websocket.client", "close drop_frame get_frame set_frame_data set_max_payload_size set_status"),
    ("kong.websocket.upstream", "close drop_frame get_frame set_frame_data set_max_payload_size set_status"),
    ("ngx", "AGAIN ALERT CRIT DEBUG DECLINED DONE EMERG ERR ERROR INFO NOTICE OK STDERR WARN"),
    ("ngx", "HTTP_ACCEPTED HTTP_BAD_GATEWAY HTTP_BAD_REQUEST HTTP_CLOSE HTTP_CONFLICT HTTP_CONTINUE HTTP_COPY HTTP_CREATED HTTP_DELETE HTTP_FORBIDDEN HTTP_GATEWAY_TIMEOUT HTTP_GET HTTP_GONE HTTP_HEAD HTTP_ILLEGAL HTTP_INSUFFICIENT_STORAGE HTTP_INTERNAL_SERVER_ERROR HTTP_LOCK HTTP_METHOD_NOT_IMPLEMENTED HTTP_MKCOL HTTP_MOVE HTTP_MOVED_PERMANENTLY HTTP_MOVED_TEMPORARILY HTTP_NOT_ACCEPTABLE HTTP_NOT_ALLOWED HTTP_NOT_FOUND HTTP_NOT_IMPLEMENTED HTTP_NOT_MODIFIED HTTP_NO_CONTENT HTTP_OK HTTP_OPTIONS HTTP_PARTIAL_CONTENT HTTP_PATCH HTTP_PAYMENT_REQUIRED HTTP_PERMANENT_REDIRECT HTTP_POST HTTP_PROPFIND HTTP_PROPPATCH HTTP_PUT HTTP_REQUEST_TIMEOUT HTTP_SEE_OTHER HTTP_SERVICE_UNAVAILABLE HTTP_SPECIAL_RESPONSE HTTP_SWITCHING_PROTOCOLS HTTP_TEMPORARY_REDIRECT HTTP_TOO_MANY_REQUESTS HTTP_TRACE HTTP_UNAUTHORIZED HTTP_UNLOCK HTTP_UPGRADE_REQUIRED HTTP_VERSION_NOT_SUPPORTED"),
    ("ngx", "cookie_time crc32_long crc32_short decode_args decode_base64 encode_args encode_base64 eof escape_uri exit flush get_phase get_raw_phase hmac_sha1 http_time localtime log md5 md5_bin now null parse_http_time print quote_sql_str redirect say send_headers sha1_bin sleep time today unescape_uri update_time utctime"),
    ("ngx", "var arg header ctx status headers_sent is_subrequest"),
    ("ngx.config", "debug nginx_version ngx_lua_version subsystem"),
    ("ngx.location", "capture capture_multi"),
    ("ngx.re", "find gmatch gsub match sub"),
    ("ngx.req", "append_body clear_header discard_body finish_body get_body_data get_body_file get_headers get_method get_post_args get_uri_args http_version init_body is_internal raw_header read_body set_body_data set_body_file set_header set_method set_uri set_uri_args socket start_time"),
    ("ngx.resp", "get_headers"),
    ("ngx.thread", "kill spawn wait"),
    ("ngx.socket", "connect stream tcp udp"),
    ("ngx.worker", "count exiting id pid pids"),
];

/// §7.3: what 3.14's `strict` and `lax` add to the 3.10 handler environment.
const GLOBALS_ADDED_3_14: &[(&str, &str)] = &[
    ("kong.client", "set_token get_token get_jwt_token_header get_jwt_token_payload get_identity_realm_source set_identity_realm_source"),
    ("kong.request", "get_id get_raw_forwarded_path"),
    ("kong.service.request", "set_authentication_headers"),
    ("kong.table", "new"),
    ("kong.tracing", "active_span get_probability_sampling_decision get_root_span get_spans init_spans"),
];

/// §7.3: only `lax` has these (and `strict` drops them from the 3.10 list).
const LAX_ONLY_GLOBALS: &[(&str, &str)] = &[
    ("kong", "cache db dns vault websocket"),
    ("kong.client", "tls"),
    ("kong.nginx", "get_statistics"),
    ("kong.node", "get_memory_stats"),
    ("kong.service", "set_retries set_target set_target_retry_callback set_timeouts set_tls_cert_key set_tls_verify set_tls_verify_depth set_tls_verify_store set_upstream"),
    ("ngx.config", "debug"),
    ("ngx", "location thread socket"),
    ("ngx.req", "get_body_file set_body_file"),
];

/// §7.3: `lax` additions that are not in the 3.10 list.
const LAX_ADDED_GLOBALS: &[(&str, &str)] = &[
    ("kong.client", "get_aws_vpce_id"),
    ("kong.service", "enable_recording_upstream_ssl"),
];

/// §2.6: the modules a schema may `require`.
const SCHEMA_REQUIRES: &[(&str, &str)] = &[
    ("", "bit string.buffer table.clear table.clone table.isarray table.isempty table.new table.nkeys"),
    ("", "kong.db.schema.typedefs kong.tools.redis.schema kong.enterprise_edition.tools.redis.v2 kong.enterprise_edition.tools.redis.v2.schema"),
];

/// §3.3: the modules a handler may `require` (3.10 code after #14247: these and
/// [`CLOUD_SUBMODULES`], 154 names).
const HANDLER_REQUIRES_3_10: &[(&str, &str)] = &[
    ("", "bit string.buffer table.clear table.clone table.isarray table.isempty table.new table.nkeys"),
    ("", "argon2 bcrypt cjson cjson.safe lyaml socket.url tablepool version xmlua"),
    ("", "kong.constants kong.concurrency kong.meta kong.enterprise_edition.tools.redis.v2"),
    ("kong.tools", "cjson gzip ip mime_type rand sha256 string table time timestamp uri uuid yield"),
    ("ngx", "base64 re req resp semaphore"),
    ("", "pgmoon pgmoon.arrays pgmoon.hstore pl.stringx pl.tablex"),
    ("resty", "aes lock md5 memcached mysql random redis sha sha1 sha224 sha256 sha384 sha512 string upload"),
    ("resty", "core.time dns.resolver lrucache lrucache.pureffi ada ada.search cookie ipmatcher jit-uuid jq passwdqc session rediscluster xmodem http http_connect http_headers jwt evp jwt-validators hmac"),
    ("", "resty.aws resty.azure"),
    ("", "resty.gcp"),
    ("", "resty.openssl"),
    ("resty.openssl", "asn1 bn cipher ctx dh digest ec ecx err hmac kdf mac objects param pkcs12 pkey provider rand rsa ssl ssl_ctx stack version"),
    ("", "resty.openssl.x509"),
    ("resty.openssl.x509", "altname chain crl csr name revoked store extension extension.dist_points extension.info_access"),
];

/// §3.3: the cloud SDK sub-modules (`resty.aws.*`, `resty.azure.*`, `resty.gcp.*`), which the
/// February 2025 change added to the handler list and which only `lax` keeps on 3.14+.
const CLOUD_SUBMODULES: &[(&str, &str)] = &[
    ("resty.aws", "utils config raw-api.region_config_data service.rds.signer"),
    ("resty.aws.request", "validate build sign execute"),
    ("resty.aws.request.signatures", "utils v4 presign none"),
    ("resty.aws.credentials", "Credentials ChainableTemporaryCredentials CredentialProviderChain EC2MetadataCredentials EnvironmentCredentials SharedFileCredentials RemoteCredentials TokenFileWebIdentityCredentials"),
    ("resty.azure", "config utils"),
    ("resty.azure.credentials", "Credentials ClientCredentials WorkloadIdentityCredentials ManagedIdentityCredentials"),
    ("resty.azure.api", "keyvault secrets keys certificates auth"),
    ("resty.azure.api.request", "build execute"),
    ("resty.azure.api.response", "handle"),
    ("resty.gcp.request", "credentials.accesstoken discovery"),
];

/// §3.3: the 66 names the February 2025 change added (absent from `3.10-early`).
const HANDLER_REQUIRES_ADDED_FEB_2025: &[(&str, &str)] = &[
    ("", "argon2 bcrypt ngx.re resty.hmac resty.http_connect resty.http_headers resty.jwt-validators resty.xmodem"),
    ("resty.openssl", "asn1 ctx dh ec ecx err param provider rsa ssl ssl_ctx stack"),
    ("resty.openssl.x509", "altname chain crl csr name revoked store extension extension.dist_points extension.info_access"),
];

/// §7.3: modules `strict` adds to the 3.10 handler list.
const REQUIRES_ADDED_3_14: &[(&str, &str)] = &[("kong.tools", "jose json sha1 utils")];

/// §7.3: modules only `lax` allows (55 names).
const LAX_ONLY_REQUIRES: &[(&str, &str)] = &[
    ("", "kong.enterprise_edition.tools.redis.v2 kong.concurrency pgmoon pgmoon.arrays pgmoon.hstore"),
    ("resty", "memcached mysql redis rediscluster xmodem dns.resolver jq session http http_connect http_headers"),
    ("", "resty.aws resty.azure"),
    ("", "resty.gcp"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sizes_match_the_reference() {
        assert_eq!(schema_globals().len(), 100);
        assert_eq!(schema_requires().len(), 12);
        let p310 = ProfileName::Kong310.profile();
        assert_eq!(p310.handler_requires.len(), 154);
        assert_eq!(
            ProfileName::Kong310Early.profile().handler_requires.len(),
            88
        );
        assert_eq!(
            expand(LAX_ONLY_REQUIRES)
                .chain(expand(CLOUD_SUBMODULES))
                .count(),
            55
        );
        let strict = ProfileName::Strict.profile();
        let lax = ProfileName::Lax.profile();
        assert_eq!(strict.handler_requires.len(), 103);
        assert_eq!(lax.handler_requires.len(), 158);
        assert!(strict.handler_requires.contains("kong.tools.jose"));
        assert!(!strict.handler_requires.contains("resty.http"));
        assert!(lax.handler_requires.contains("resty.http"));
        assert!(strict.handler_globals.contains("kong.request.get_id"));
        assert!(!strict.handler_globals.contains("kong.cache.get"));
        assert!(lax.handler_globals.contains("kong.cache.get"));
        assert!(p310.handler_globals.contains("kong.cache.get"));
        assert!(!p310.handler_globals.contains("kong.request.get_id"));
    }

    #[test]
    fn node_info_chooses_profiles() {
        use serde_json::json;
        let pick = |v: serde_json::Value| profile_from_node_info(&v).map(|r| r.map(|(p, _)| p));
        assert_eq!(
            pick(json!({"version": "3.15.0.0"})),
            Some(Ok(ProfileName::Strict))
        );
        assert_eq!(
            pick(json!({"version": "3.15.0.0", "configuration": {"untrusted_lua": "sandbox"}})),
            Some(Ok(ProfileName::Kong310))
        );
        assert_eq!(
            pick(json!({"version": "3.14.1", "configuration": {"untrusted_lua": "lax"}})),
            Some(Ok(ProfileName::Lax))
        );
        assert!(pick(json!({"configuration": {"untrusted_lua": "off"}}))
            .unwrap()
            .is_err());
        assert_eq!(pick(json!({"tagline": "x"})), None);
    }

    #[test]
    fn versions_choose_profiles() {
        for (v, p) in [
            ("3.10.0.0", ProfileName::Kong310),
            ("3.13.1", ProfileName::Kong310),
            ("3.14.0.2-enterprise-edition", ProfileName::Strict),
            ("3.15", ProfileName::Strict),
        ] {
            assert_eq!(ProfileName::for_kong_version(v).unwrap(), p, "{v}");
        }
        assert!(ProfileName::for_kong_version("3.9.1")
            .unwrap_err()
            .contains("3.10 or later"));
        assert_eq!(ProfileName::parse("lax").unwrap(), ProfileName::Lax);
        assert!(ProfileName::parse("loose")
            .unwrap_err()
            .contains("3.10, 3.10-early"));
    }
}
