//! Kong's protocol names, written once: what a plugin instance may list in `protocols`, what it
//! gets when it lists none, and the `protocols` field Kong gives a plugin whose schema does not
//! declare its own. Used by validation, schema classification, the local control plane's core
//! entities (services and routes) and the tests of the Lua typedefs stand-in
//! (`src/lua/typedefs.lua`, which spells the same lists in Lua; those tests hold them equal).

use serde_json::Value;

use super::model::{Field, FieldType};

/// Every protocol Kong knows (EE / Konnect flavour, `ws` and `wss` included: Kong EE's
/// `constants.PROTOCOLS`), sorted.
pub const ALL: [&str; 10] = [
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
    "ws",
    "wss",
];

/// The protocols a plugin instance gets when it lists none (`typedefs.protocols` and
/// `typedefs.protocols_http` default), sorted.
pub const PLUGIN_DEFAULT: [&str; 4] = ["grpc", "grpcs", "http", "https"];

/// The protocols `typedefs.protocols_http_and_ws` allows, sorted.
pub const HTTP_AND_WS: [&str; 6] = ["grpc", "grpcs", "http", "https", "ws", "wss"];

/// Kong's own `protocols` field of a plugin (`typedefs.protocols`): a required set of known
/// protocols, defaulting to [`PLUGIN_DEFAULT`].
pub fn plugin_field() -> Field {
    let mut element = Field::new(FieldType::String);
    element.validators.one_of = Some(ALL.iter().map(|p| Value::from(*p)).collect());
    let mut field = Field::new(FieldType::Set);
    field.required = Some(true);
    field.default = Some(Value::from(PLUGIN_DEFAULT.to_vec()));
    field.elements = Some(Box::new(element));
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_nested() {
        for list in [&ALL[..], &PLUGIN_DEFAULT, &HTTP_AND_WS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            assert!(list.iter().all(|p| ALL.contains(p)), "{list:?}");
        }
    }

    #[test]
    fn plugin_field_is_typedefs_protocols() {
        let f = plugin_field();
        assert_eq!((f.ty, f.required), (FieldType::Set, Some(true)));
        assert_eq!(
            f.default,
            Some(serde_json::json!(["grpc", "grpcs", "http", "https"]))
        );
        let one_of = f
            .elements
            .and_then(|e| e.validators.one_of.clone())
            .unwrap();
        assert_eq!(one_of.len(), 10);
    }
}
