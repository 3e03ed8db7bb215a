//! A YAML document as a tree of nodes that remember where they were written.
//!
//! State files need line and column for every key and value (unknown keys, bad values, lint
//! diagnostics), so the loader builds its own tree from the parser's marked events instead of
//! deserialising straight into structs. Scalars are resolved with YAML 1.2's core schema.
//! Aliases are expanded with a budget, so an alias bomb ends in an error, not in exhausted memory.
//! Only what aliases add is counted: the nodes written in the file are already bounded by the
//! file size limit, and a large state without aliases (a decK dump of 50,000 instances) loads.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes the aliases of one document may expand to, all aliases together. Nodes written
/// out in the file do not count: the file size limit bounds them.
pub const MAX_ALIAS_NODES: usize = 1_000_000;
/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 256;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub pos: Pos,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `block` is true for `|` and `>` scalars, whose content starts on the next line.
    Str {
        value: String,
        block: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order (duplicates are refused while parsing).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What kind of value this is, in words for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str { .. } => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The key as text, for messages (`?` for non-scalar keys).
    pub fn key_text(&self) -> String {
        match &self.value {
            NodeValue::Str { value, .. } => value.clone(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Null => "null".to_string(),
            _ => "?".to_string(),
        }
    }

    /// Converts the node to JSON. Keys become strings; non-finite floats become errors.
    pub fn to_json(&self) -> Result<serde_json::Value, (Pos, String)> {
        use serde_json::Value;
        Ok(match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => return Err((self.pos, format!("the number {f} cannot be sent as JSON"))),
            },
            NodeValue::Str { value, .. } => Value::String(value.clone()),
            NodeValue::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(Node::to_json)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    map.insert(k.key_text(), v.to_json()?);
                }
                Value::Object(map)
            }
        })
    }
}

/// A YAML syntax or structure error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document. An empty document is `Null`; more than one document is an error.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let res = parser.load(&mut builder, true);
    if let Some(err) = builder.error.take() {
        return Err(err);
    }
    if let Err(e) = res {
        let m = e.marker();
        return Err(YamlError {
            pos: pos_of(m),
            message: e.info().to_string(),
        });
    }
    match builder.docs.len() {
        0 => Ok(Node {
            value: NodeValue::Null,
            pos: Pos { line: 1, column: 1 },
        }),
        1 => Ok(builder.docs.pop().expect("one document")),
        _ => Err(YamlError {
            pos: builder.second_doc_pos.unwrap_or(Pos { line: 1, column: 1 }),
            message: "a state file holds one YAML document; found more than one".to_string(),
        }),
    }
}

fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line().max(1),
        column: m.col() + 1,
    }
}

enum Frame {
    Seq {
        anchor: usize,
        pos: Pos,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        pos: Pos,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        /// Scalar keys seen so far, for duplicate checks in constant time (a config can have
        /// 100,000 keys); other keys are compared one by one.
        seen: std::collections::HashMap<ScalarKey, Pos>,
    },
}

/// A map key that can be hashed: every scalar but floats (whose equality is not hashable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ScalarKey {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
}

impl ScalarKey {
    fn of(v: &NodeValue) -> Option<ScalarKey> {
        match v {
            NodeValue::Null => Some(ScalarKey::Null),
            NodeValue::Bool(b) => Some(ScalarKey::Bool(*b)),
            NodeValue::Int(i) => Some(ScalarKey::Int(*i)),
            NodeValue::Str { value, .. } => Some(ScalarKey::Str(value.clone())),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    /// Nodes added by expanding aliases so far.
    alias_nodes: usize,
    error: Option<YamlError>,
    second_doc_pos: Option<Pos>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos,
                message: message.into(),
            });
        }
    }

    /// Charges an alias expansion of `n` nodes to the budget.
    fn count_alias(&mut self, n: usize, pos: Pos) -> bool {
        self.alias_nodes = self.alias_nodes.saturating_add(n);
        if self.alias_nodes > MAX_ALIAS_NODES {
            self.fail(
                pos,
                format!("aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)"),
            );
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.docs.len() == 1 && self.second_doc_pos.is_none() {
                    self.second_doc_pos = Some(node.pos);
                }
                self.docs.push(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    let dup = match ScalarKey::of(&node.value) {
                        Some(key) => match seen.get(&key) {
                            Some(first) => Some(*first),
                            None => {
                                seen.insert(key, node.pos);
                                None
                            }
                        },
                        None => entries
                            .iter()
                            .find(|(k, _)| k.value == node.value)
                            .map(|(k, _)| k.pos),
                    };
                    if let Some(first) = dup {
                        let (text, pos) = (node.key_text(), node.pos);
                        self.fail(
                            pos,
                            format!(
                                "duplicate key `{text}` (first written at line {})",
                                first.line
                            ),
                        );
                        return;
                    }
                    *pending_key = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

fn node_size(node: &Node) -> usize {
    match &node.value {
        NodeValue::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        NodeValue::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_size(k) + node_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = pos_of(&mark);
        match ev {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    self.fail(pos, "alias to an unknown anchor");
                    return;
                };
                if self.count_alias(node_size(&node), pos) {
                    self.push_node(Node {
                        value: node.value,
                        pos,
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = match resolve_scalar(text, style, tag.as_ref()) {
                    Ok(v) => v,
                    Err(msg) => {
                        self.fail(pos, msg);
                        return;
                    }
                };
                let node = Node { value, pos };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Seq {
                    anchor,
                    pos,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
                    return;
                }
                self.stack.push(Frame::Map {
                    anchor,
                    pos,
                    entries: Vec::new(),
                    pending_key: None,
                    seen: Default::default(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (anchor, node) = match frame {
                    Frame::Seq { anchor, pos, items } => (
                        anchor,
                        Node {
                            value: NodeValue::Seq(items),
                            pos,
                        },
                    ),
                    Frame::Map {
                        anchor,
                        pos,
                        entries,
                        ..
                    } => (
                        anchor,
                        Node {
                            // A block mapping's start mark is at its first key's `:`; the
                            // first key is where a reader looks for it.
                            pos: entries.first().map_or(pos, |(k, _)| k.pos),
                            value: NodeValue::Map(entries),
                        },
                    ),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
        }
    }
}

/// Resolves a scalar with YAML 1.2's core schema; quoted and block scalars are strings.
fn resolve_scalar(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
) -> Result<NodeValue, String> {
    let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
    if let Some(tag) = tag {
        let suffix = tag.suffix.as_str();
        let core = tag.handle == "!!" || tag.handle.starts_with("tag:yaml.org,2002:");
        if core || suffix.starts_with("tag:yaml.org,2002:") {
            let name = suffix.trim_start_matches("tag:yaml.org,2002:");
            return match name {
                "str" => Ok(NodeValue::Str { value: text, block }),
                "null" => Ok(NodeValue::Null),
                "bool" | "int" | "float" => match resolve_plain(&text) {
                    v @ (NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_)) => Ok(v),
                    _ => Err(format!("`{text}` is not a valid !!{name}")),
                },
                other => Err(format!("unsupported YAML tag !!{other}")),
            };
        }
        return Err(format!("unsupported YAML tag {}{}", tag.handle, tag.suffix));
    }
    if style != TScalarStyle::Plain {
        return Ok(NodeValue::Str { value: text, block });
    }
    Ok(resolve_plain(&text))
}

fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return NodeValue::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return NodeValue::Int(i);
        }
    }
    let is_int = {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if is_int {
        if let Ok(i) = text.parse::<i64>() {
            return NodeValue::Int(i);
        }
    }
    let is_float = {
        let body = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let mantissa_ok = !mantissa.is_empty()
            && mantissa != "."
            && mantissa.bytes().filter(|b| *b == b'.').count() <= 1
            && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let exp_ok = exp.is_none_or(|e| {
            let d = e.strip_prefix(['-', '+']).unwrap_or(e);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
        });
        mantissa_ok && exp_ok
    };
    if is_float {
        if let Ok(f) = text.parse::<f64>() {
            return NodeValue::Float(f);
        }
    }
    NodeValue::Str {
        value: text.to_string(),
        block: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v)
                .expect("key"),
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a: 1\nb:\n  c: x\n").unwrap();
        assert_eq!(doc.pos, Pos { line: 1, column: 1 });
        let b = get(&doc, "b");
        let c = get(b, "c");
        assert_eq!(c.pos, Pos { line: 3, column: 6 });
        assert_eq!(c.as_str(), Some("x"));
    }

    #[test]
    fn core_schema_scalars() {
        let doc = parse(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 0x10\ng: 1e3\nh: yes\ni: -7\nj: \"true\"\n",
        )
        .unwrap();
        assert_eq!(get(&doc, "a").value, NodeValue::Int(1));
        assert_eq!(get(&doc, "b").value, NodeValue::Float(1.5));
        assert_eq!(get(&doc, "c").value, NodeValue::Bool(true));
        assert_eq!(get(&doc, "d").value, NodeValue::Null);
        assert_eq!(get(&doc, "e").as_str(), Some("1"));
        assert_eq!(get(&doc, "f").value, NodeValue::Int(16));
        assert_eq!(get(&doc, "g").value, NodeValue::Float(1000.0));
        assert_eq!(get(&doc, "h").as_str(), Some("yes"));
        assert_eq!(get(&doc, "i").value, NodeValue::Int(-7));
        assert_eq!(get(&doc, "j").as_str(), Some("true"));
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(
            err.message.contains("first written at line 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn aliases_expand_and_bombs_stop() {
        let doc = parse("x: &a [1, 2]\ny: *a\n").unwrap();
        assert_eq!(get(&doc, "y").to_json().unwrap(), serde_json::json!([1, 2]));

        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
            bomb.push_str(&format!(
                "{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = name;
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion limit"),
            "{}",
            err.message
        );
    }

    #[test]
    fn more_than_one_document_is_refused() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("one YAML document"));
    }

    #[test]
    fn block_scalars_are_marked() {
        let doc = parse("h: |\n  return {}\n").unwrap();
        match &get(&doc, "h").value {
            NodeValue::Str { value, block } => {
                assert_eq!(value, "return {}\n");
                assert!(*block);
            }
            other => panic!("{other:?}"),
        }
    }
}
