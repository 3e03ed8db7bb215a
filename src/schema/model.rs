//! Kong's plugin-schema model, as evaluated from a `schema.lua`.
//!
//! The Lua sandbox (`crate::lua`) turns the table a schema returns into these values; config
//! validation (`validate`), defaults filling and change classification work on them alone, with
//! no Lua at hand. Field order is kept as declared, because Kong reports and fills in that order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole plugin schema: the table `schema.lua` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginSchema {
    /// The schema's `name`.
    pub name: String,
    /// Top-level fields in declaration order (`config`, `protocols`, `consumer`, …).
    pub fields: Vec<(String, Field)>,
    /// Top-level `entity_checks` (paths such as `config.a`).
    pub entity_checks: Vec<EntityCheck>,
    /// The schema had a top-level `check` function.
    pub has_check_function: bool,
    /// The text of `schema.lua`, kept when the schema has `custom_validator` or
    /// `custom_entity_check` functions: the model holds no Lua, so validation evaluates the
    /// source again (in the sandbox) to run them ([`Field::custom_fn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_source: Option<std::sync::Arc<str>>,
}

impl PluginSchema {
    /// The top-level field named `name`, if declared.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// The `config` record, if declared.
    pub fn config(&self) -> Option<&Field> {
        self.field("config")
    }
}

/// Kong's field types (`Schema.valid_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Set,
    Map,
    Record,
    Foreign,
    Json,
    Function,
    Any,
}

impl FieldType {
    /// Kong's name for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Array => "array",
            FieldType::Set => "set",
            FieldType::Map => "map",
            FieldType::Record => "record",
            FieldType::Foreign => "foreign",
            FieldType::Json => "json",
            FieldType::Function => "function",
            FieldType::Any => "any",
        }
    }

    /// Parses Kong's name for a type.
    pub fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "integer" => FieldType::Integer,
            "boolean" => FieldType::Boolean,
            "array" => FieldType::Array,
            "set" => FieldType::Set,
            "map" => FieldType::Map,
            "record" => FieldType::Record,
            "foreign" => FieldType::Foreign,
            "json" => FieldType::Json,
            "function" => FieldType::Function,
            "any" => FieldType::Any,
            _ => return None,
        })
    }
}

/// One field definition with its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub ty: FieldType,
    /// `required` as written (`None` when absent). Records nested in a plugin schema are made
    /// required by Kong when this is `None` (see [`Field::is_required`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// `default`: `Some(Value::Null)` for `default = ngx.null`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "some_value")]
    pub default: Option<Value>,
    /// Element definition of an `array` or `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<Box<Field>>,
    /// Key definition of a `map`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Box<Field>>,
    /// Value definition of a `map`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Box<Field>>,
    /// Sub-fields of a `record`, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, Field)>,
    /// `entity_checks` declared inside a `record`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entity_checks: Vec<EntityCheck>,
    /// `reference` of a `foreign` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Validator attributes.
    #[serde(default, skip_serializing_if = "FieldValidators::is_empty")]
    pub validators: FieldValidators,
    /// Validators that typedefs implement as Lua functions in Kong, done natively here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtins: Vec<Builtin>,
    /// `err`: replaces the message of any validator error on this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub referenceable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The field had a `custom_validator` function (not a typedef builtin).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_custom_validator: bool,
    /// Which custom function of the schema the `custom_validator` is: functions are numbered
    /// from 0 in the order the schema's conversion meets them (see `crate::lua::custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fn: Option<u32>,
    /// A `json` field's `json_schema` (validated for inline schemas).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "some_value")]
    pub json_schema: Option<Value>,
    /// `shorthand_fields` of a `record`: input keys Kong maps onto real fields on write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shorthands: Vec<Shorthand>,
}

/// One `shorthand_fields` entry: an input key that Kong's `func` turns into real fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shorthand {
    pub name: String,
    /// Where `func` puts the value (a path of record keys), when it simply moves it there;
    /// `None` when it does something else. Used when `func` cannot be called (no Lua runner).
    pub target: Option<Vec<String>>,
    /// `func`, as a custom function id ([`Field::custom_fn`] numbering): validation calls it
    /// with the value, as Kong does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub func: Option<u32>,
    /// The shorthand's own definition (type, validators), which its value must pass first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<Box<Field>>,
    /// It has a `deprecation`: the real fields' values win over what `func` returns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// The paths of `deprecation.replaced_with` (else `translate_backwards`): a value there that
    /// differs from the shorthand's is an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_with: Vec<Vec<String>>,
}

impl Field {
    /// A field of type `ty` with no other attribute.
    pub fn new(ty: FieldType) -> Field {
        Field {
            ty,
            required: None,
            default: None,
            elements: None,
            keys: None,
            values: None,
            fields: Vec::new(),
            entity_checks: Vec::new(),
            reference: None,
            validators: FieldValidators::default(),
            builtins: Vec::new(),
            err: None,
            auto: false,
            encrypted: false,
            referenceable: false,
            description: None,
            has_custom_validator: false,
            custom_fn: None,
            json_schema: None,
            shorthands: Vec::new(),
        }
    }

    /// Whether the field is required, with Kong's rule that a record whose `required` is unset
    /// is required (`make_records_required`).
    pub fn is_required(&self) -> bool {
        match self.required {
            Some(r) => r,
            None => self.ty == FieldType::Record,
        }
    }

    /// The sub-field named `name` of a record.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// Validator attributes of a field (`Schema.validators_order`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Validators {
    /// `eq`; `Some(Value::Null)` for `eq = ngx.null` (the field must not be set).
    #[serde(skip_serializing_if = "Option::is_none", with = "some_value")]
    pub eq: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", with = "some_value")]
    pub ne: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_one_of: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_eq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len_max: Option<i64>,
    /// Lua pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#match: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_match: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_all: Option<Vec<PatternErr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_none: Option<Vec<PatternErr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_any: Option<MatchAny>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub uuid: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timestamp: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_regex: bool,
    #[serde(skip_serializing_if = "Option::is_none", with = "some_value")]
    pub contains: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutually_exclusive_subsets: Option<Vec<Vec<String>>>,
}

impl Validators {
    /// Whether no validator attribute is set.
    pub fn is_empty(&self) -> bool {
        *self == Validators::default()
    }
}

/// A field's [`Validators`], allocated only when one is set: most fields have none, and a
/// large state holds thousands of evaluated schemas. Reads see the empty set when none is
/// allocated; a write allocates it.
#[derive(Clone, Default)]
pub struct FieldValidators(Option<Box<Validators>>);

static NO_VALIDATORS: std::sync::LazyLock<Validators> =
    std::sync::LazyLock::new(Validators::default);

impl FieldValidators {
    /// Whether no validator attribute is set.
    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(Validators::is_empty)
    }
}

impl std::ops::Deref for FieldValidators {
    type Target = Validators;
    fn deref(&self) -> &Validators {
        self.0.as_deref().unwrap_or(&NO_VALIDATORS)
    }
}

impl std::ops::DerefMut for FieldValidators {
    fn deref_mut(&mut self) -> &mut Validators {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<Validators> for FieldValidators {
    fn from(v: Validators) -> FieldValidators {
        FieldValidators((!v.is_empty()).then(|| Box::new(v)))
    }
}

impl PartialEq for FieldValidators {
    fn eq(&self, other: &FieldValidators) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for FieldValidators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for FieldValidators {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for FieldValidators {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldValidators, D::Error> {
        Validators::deserialize(d).map(FieldValidators::from)
    }
}

/// One `{ pattern = …, err = … }` entry of `match_all` / `match_none`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternErr {
    pub pattern: String,
    pub err: String,
}

/// `match_any = { patterns = {…}, err = … }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchAny {
    pub patterns: Vec<String>,
    pub err: String,
}

/// Checks that Kong's typedefs implement with Lua `custom_validator` functions. The sandbox's
/// typedefs stand-in marks them by name; `validate` runs them in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Builtin {
    /// `typedefs.host`, `redis_host`: a valid hostname or IP, no port.
    Host,
    /// `typedefs.host_with_optional_port`.
    HostWithOptionalPort,
    /// `typedefs.wildcard_host`.
    WildcardHost,
    /// `typedefs.ip`.
    Ip,
    /// `typedefs.ip_or_cidr`.
    IpOrCidr,
    /// `typedefs.cidr_v4` / `cidr`.
    CidrV4,
    /// `typedefs.path`: RFC 3986 characters and valid `%XX` escapes.
    Path,
    /// `typedefs.url`: has a scheme and a host.
    Url,
    /// `typedefs.cookie_name`: an HTTP token.
    CookieName,
    /// `typedefs.header_name`.
    HeaderName,
    /// `typedefs.utf8_name`.
    Utf8Name,
    /// `typedefs.sni`, `redis_server_name`: a hostname, not an IP, no port.
    Sni,
    /// `typedefs.tag`: UTF-8, printable, no `,` or `/`.
    Tag,
    /// `typedefs.certificate` / `key` (PEM block present).
    Pem,
    /// `typedefs.semantic_version`.
    SemanticVersion,
    /// `typedefs.router_path`: starts with `/` or `~/`.
    RouterPath,
    /// `typedefs.lua_code` values: Lua that parses.
    LuaCode,
}

impl Builtin {
    /// The marker name used by the typedefs stand-in.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Host => "host",
            Builtin::HostWithOptionalPort => "host_with_optional_port",
            Builtin::WildcardHost => "wildcard_host",
            Builtin::Ip => "ip",
            Builtin::IpOrCidr => "ip_or_cidr",
            Builtin::CidrV4 => "cidr_v4",
            Builtin::Path => "path",
            Builtin::Url => "url",
            Builtin::CookieName => "cookie_name",
            Builtin::HeaderName => "header_name",
            Builtin::Utf8Name => "utf8_name",
            Builtin::Sni => "sni",
            Builtin::Tag => "tag",
            Builtin::Pem => "pem",
            Builtin::SemanticVersion => "semantic_version",
            Builtin::RouterPath => "router_path",
            Builtin::LuaCode => "lua_code",
        }
    }

    /// Every builtin, for lookups by name.
    pub const ALL: [Builtin; 17] = [
        Builtin::Host,
        Builtin::HostWithOptionalPort,
        Builtin::WildcardHost,
        Builtin::Ip,
        Builtin::IpOrCidr,
        Builtin::CidrV4,
        Builtin::Path,
        Builtin::Url,
        Builtin::CookieName,
        Builtin::HeaderName,
        Builtin::Utf8Name,
        Builtin::Sni,
        Builtin::Tag,
        Builtin::Pem,
        Builtin::SemanticVersion,
        Builtin::RouterPath,
        Builtin::LuaCode,
    ];

    /// Looks a builtin up by its marker name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// A schema- or record-level entity check. Field names may be dotted paths relative to the
/// record that declares the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EntityCheck {
    AtLeastOneOf(Vec<String>),
    OnlyOneOf(Vec<String>),
    Distinct(Vec<String>),
    MutuallyRequired(Vec<String>),
    MutuallyExclusive(Vec<String>),
    /// `mutually_exclusive_sets = { set1 = {…}, set2 = {…} }`.
    MutuallyExclusiveSets {
        set1: Vec<String>,
        set2: Vec<String>,
    },
    Conditional {
        if_field: String,
        /// The `if_match` attributes, as a field definition of the `if_field`'s type.
        if_match: Box<Field>,
        then_field: String,
        /// The `then_match` attributes (may carry `required = true`).
        then_match: Box<Field>,
        then_err: Option<String>,
    },
    ConditionalAtLeastOneOf {
        if_field: String,
        if_match: Box<Field>,
        then_at_least_one_of: Vec<String>,
        then_err: Option<String>,
        else_match: Option<Box<Field>>,
        else_then_at_least_one_of: Option<Vec<String>>,
        else_then_err: Option<String>,
    },
    /// A `custom_entity_check` function, run through the schema's source ([`Field::custom_fn`]
    /// numbering); `run_with_missing_fields` / `run_with_invalid_fields` as given.
    CustomEntityCheck {
        field_sources: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_fn: Option<u32>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        run_with_missing: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        run_with_invalid: bool,
    },
}

/// Serde for an `Option<Value>` that keeps `Some(Value::Null)` (`default = ngx.null`) apart from
/// `None`: `Some(v)` is written as the one-element array `[v]` (the lint cache stores schemas).
mod some_value {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        value.as_ref().map(std::slice::from_ref).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        match Option::<[Value; 1]>::deserialize(d)? {
            Some([v]) => Ok(Some(v)),
            None => Ok(None),
        }
    }
}
