//! Entity checks: Kong's `Schema.entity_checkers` and `run_entity_check`, at the schema's top
//! level and inside records. They run after the field checks of the same record, in declaration
//! order, on a full (insert) check; failures go to the record's `@entity` list.
//!
//! Run rules, per checker (`run_with_missing_fields` / `run_with_invalid_fields`):
//!
//! | checker | missing | invalid | fields that must be present |
//! |---|---|---|---|
//! | `at_least_one_of` | yes | yes | (all listed, moot) |
//! | `conditional_at_least_one_of` | yes | yes | none |
//! | `only_one_of`, `distinct` | no | yes | all listed |
//! | `conditional` | no | yes | `if_field` |
//! | `mutually_required`, `mutually_exclusive` | yes | no | (all listed, moot) |
//! | `mutually_exclusive_sets` | yes | no | none |
//!
//! A check is skipped when one of its fields already has an error (unless "invalid" says yes;
//! like Kong, only the undotted names match the error table), when all its fields are absent
//! (unless "missing" says yes), and when a field value is a Vault reference in a `referenceable`
//! string field. A field that must be present but is absent gets "field required for entity
//! check". `custom_entity_check` calls the schema's function through [`super::custom`]
//! (`field_sources`: missing no, invalid no, unless its arguments say so).

use serde_json::{Map, Value};

use super::custom::Verdict;
use super::defaults::required_at;
use super::field::{lookup_path, merge_matcher, validate_field, REQUIRED};
use super::lua::{format_s, is_nonempty, is_reference, lua_eq, quoted_list};
use super::{get_in, msg, set_in, ErrNode, ErrTable};
use crate::schema::model::{EntityCheck, Field, FieldType};

const REQUIRED_FOR_ENTITY_CHECK: &str = "field required for entity check";

/// What `run_entity_check` needs to know about a check before running it.
struct Plan<'a> {
    involved: Vec<&'a str>,
    must_exist: Vec<&'a str>,
    run_with_missing: bool,
    run_with_invalid: bool,
}

/// Runs `checks` over one record level (`fields` are its declarations, `input` its filled
/// value) and records failures in `errors`.
pub(super) fn run(
    fields: &[(String, Field)],
    checks: &[EntityCheck],
    input: &Map<String, Value>,
    errors: &mut ErrTable,
    rr: bool,
) {
    for check in checks {
        let Some(plan) = plan(check) else { continue };
        if involved_reference(fields, input, &plan.involved) {
            continue;
        }
        let mut missing = Vec::new();
        let mut all_absent = true;
        let mut all_ok = true;
        for name in &plan.involved {
            match get_path(input, name) {
                None => {
                    if !plan.run_with_missing && plan.must_exist.contains(name) {
                        missing.push(*name);
                    }
                }
                Some(_) => all_absent = false,
            }
            if errors.fields.contains_key(*name) {
                all_ok = false;
            }
        }
        if !all_ok && !plan.run_with_invalid {
            continue;
        }
        // Insert validation is a full check: "missing" checkers run even with nothing set.
        if all_absent && !plan.run_with_missing {
            continue;
        }
        if !missing.is_empty() {
            for name in missing {
                set_path(errors, name, msg(REQUIRED_FOR_ENTITY_CHECK.to_string()));
            }
            continue;
        }
        if let Some(message) = evaluate(check, fields, input, errors, rr) {
            errors.entity.push(message);
        }
    }
}

fn all(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn plan(check: &EntityCheck) -> Option<Plan<'_>> {
    Some(match check {
        EntityCheck::AtLeastOneOf(names) => Plan {
            involved: all(names),
            must_exist: all(names),
            run_with_missing: true,
            run_with_invalid: true,
        },
        EntityCheck::OnlyOneOf(names) | EntityCheck::Distinct(names) => Plan {
            involved: all(names),
            must_exist: all(names),
            run_with_missing: false,
            run_with_invalid: true,
        },
        EntityCheck::MutuallyRequired(names) | EntityCheck::MutuallyExclusive(names) => Plan {
            involved: all(names),
            must_exist: all(names),
            run_with_missing: true,
            run_with_invalid: false,
        },
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => Plan {
            involved: set1.iter().chain(set2).map(String::as_str).collect(),
            // Kong lists `required_fields` as an array here, so none is looked up as required.
            must_exist: Vec::new(),
            run_with_missing: true,
            run_with_invalid: false,
        },
        EntityCheck::Conditional {
            if_field,
            then_field,
            ..
        } => Plan {
            involved: vec![if_field.as_str(), then_field.as_str()],
            must_exist: vec![if_field.as_str()],
            run_with_missing: false,
            run_with_invalid: true,
        },
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            then_at_least_one_of,
            else_then_at_least_one_of,
            ..
        } => {
            let mut involved = vec![if_field.as_str()];
            involved.extend(then_at_least_one_of.iter().map(String::as_str));
            if let Some(names) = else_then_at_least_one_of {
                involved.extend(names.iter().map(String::as_str));
            }
            Plan {
                involved,
                // As for the sets: an array in Kong, so nothing is required.
                must_exist: Vec::new(),
                run_with_missing: true,
                run_with_invalid: true,
            }
        }
        EntityCheck::CustomEntityCheck {
            field_sources,
            run_with_missing,
            run_with_invalid,
            ..
        } => Plan {
            involved: all(field_sources),
            must_exist: all(field_sources),
            run_with_missing: *run_with_missing,
            run_with_invalid: *run_with_invalid,
        },
    })
}

/// Whether any involved value is a Vault reference held by a `referenceable` string field: Kong
/// does not run the check then.
fn involved_reference(
    fields: &[(String, Field)],
    input: &Map<String, Value>,
    names: &[&str],
) -> bool {
    names.iter().any(|name| {
        get_path(input, name).is_some_and(|value| is_reference_value(fields, name, value))
    })
}

fn is_reference_value(fields: &[(String, Field)], name: &str, value: &Value) -> bool {
    let Some(field) = lookup_path(fields, name) else {
        return false;
    };
    field.ty == FieldType::String && field.referenceable && value.as_str().is_some_and(is_reference)
}

/// Runs one checker; `Some(message)` on failure.
fn evaluate(
    check: &EntityCheck,
    fields: &[(String, Field)],
    input: &Map<String, Value>,
    errors: &mut ErrTable,
    rr: bool,
) -> Option<String> {
    let nonempty = |name: &String| is_nonempty(get_path(input, name));
    match check {
        EntityCheck::AtLeastOneOf(names) => (!names.iter().any(nonempty)).then(|| {
            format!(
                "at least one of these fields must be non-empty: {}",
                quoted_list(names)
            )
        }),
        EntityCheck::OnlyOneOf(names) => {
            (names.iter().filter(|n| nonempty(n)).count() != 1).then(|| {
                format!(
                    "exactly one of these fields must be non-empty: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::Distinct(names) => {
            let mut seen: Vec<&Value> = Vec::new();
            for name in names {
                let value = get_path(input, name);
                if let Some(value) = value.filter(|v| is_nonempty(Some(v))) {
                    if seen.iter().any(|s| lua_eq(s, value)) {
                        return Some(format!(
                            "values of these fields must be distinct: {}",
                            quoted_list(names)
                        ));
                    }
                    seen.push(value);
                }
            }
            None
        }
        EntityCheck::MutuallyRequired(names) => {
            let set = names.iter().filter(|n| nonempty(n)).count();
            (set != 0 && set != names.len()).then(|| {
                format!(
                    "all or none of these fields must be set: {}",
                    quoted_list(names)
                )
            })
        }
        EntityCheck::MutuallyExclusive(names) => (names.iter().filter(|n| nonempty(n)).count() > 1)
            .then(|| {
                format!(
                    "only one or none of these fields must be set: {}",
                    quoted_list(names)
                )
            }),
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            let in1: Vec<&String> = set1.iter().filter(|n| nonempty(n)).collect();
            let in2: Vec<&String> = set2.iter().filter(|n| nonempty(n)).collect();
            (!in1.is_empty() && !in2.is_empty()).then(|| {
                format!(
                    "these sets are mutually exclusive: ({}), ({})",
                    quoted_list(&in1),
                    quoted_list(&in2)
                )
            })
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err,
        } => {
            let if_value = get_path(input, if_field)?;
            if !passes(fields, if_field, if_match, if_value, rr) {
                return None;
            }
            let conditional =
                || format!("failed conditional validation given value of field '{if_field}'");
            let then_value = get_path(input, then_field).unwrap_or(&Value::Null);
            if then_match.required == Some(true) && then_value.is_null() {
                set_path(errors, then_field, msg(REQUIRED.to_string()));
                return Some(conditional());
            }
            let base = lookup_path(fields, then_field);
            let matcher = merge_matcher(then_match, base);
            let required = effective_required(then_match, base, rr);
            match validate_field(&matcher, then_value, required, rr) {
                Ok(()) => None,
                Err(e) => {
                    set_path(errors, then_field, e);
                    Some(match then_err {
                        Some(t) => format_s(t, if_field),
                        None => conditional(),
                    })
                }
            }
        }
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err,
            else_match,
            else_then_at_least_one_of,
            else_then_err,
        } => {
            let if_value = get_path(input, if_field)?;
            let (names, err) = if passes(fields, if_field, if_match, if_value, rr) {
                (then_at_least_one_of, then_err)
            } else {
                let else_match = else_match.as_deref()?;
                if !passes(fields, if_field, else_match, if_value, rr) {
                    return None;
                }
                (else_then_at_least_one_of.as_ref()?, else_then_err)
            };
            if names.iter().any(nonempty) {
                return None;
            }
            let list = quoted_list(names);
            Some(match err {
                Some(t) => format_s(t, &list),
                None => format!("at least one of these fields must be non-empty: {list}"),
            })
        }
        EntityCheck::CustomEntityCheck {
            field_sources,
            custom_fn: Some(id),
            ..
        } => {
            // The function sees the involved fields only, at their paths.
            let mut subset = Map::new();
            for name in field_sources {
                if let Some(value) = get_path(input, name) {
                    set_in(&mut subset, name.split('.'), value.clone());
                }
            }
            match super::custom::run(*id, &Value::Object(subset))? {
                Ok(Verdict::Pass) => None,
                Ok(Verdict::Fail(message)) => Some(message.unwrap_or_else(|| {
                    format!(
                        "failed entity check: custom_entity_check({})",
                        quoted_list(field_sources)
                    )
                })),
                Err(e) => Some(format!(
                    "the schema's custom_entity_check raised an error: {e}"
                )),
            }
        }
        EntityCheck::CustomEntityCheck {
            custom_fn: None, ..
        } => None,
    }
}

/// Whether `value` of `name` passes a conditional matcher.
fn passes(
    fields: &[(String, Field)],
    name: &str,
    matcher: &Field,
    value: &Value,
    rr: bool,
) -> bool {
    let base = lookup_path(fields, name);
    let merged = merge_matcher(matcher, base);
    validate_field(&merged, value, effective_required(matcher, base, rr), rr).is_ok()
}

/// A matcher's `required`, else the checked field's.
fn effective_required(matcher: &Field, base: Option<&Field>, rr: bool) -> bool {
    match (matcher.required, base) {
        (Some(r), _) => r,
        (None, Some(base)) => required_at(base, rr),
        (None, None) => false,
    }
}

/// Kong's `get_field`: follows a dotted path through objects; absent (`None`) when a step is
/// missing, `null` or not an object.
pub(super) fn get_path<'v>(input: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    get_in(input, path.split('.'))
}

/// Kong's `set_field` on an error table: creates intermediate tables, replaces what is there.
fn set_path(errors: &mut ErrTable, path: &str, node: ErrNode) {
    match path.split_once('.') {
        None => {
            errors.fields.insert(path.to_string(), node);
        }
        Some((head, rest)) => {
            let slot = errors
                .fields
                .entry(head.to_string())
                .or_insert_with(|| ErrNode::Table(ErrTable::default()));
            if let ErrNode::Msg(_) = slot {
                *slot = ErrNode::Table(ErrTable::default());
            }
            if let ErrNode::Table(table) = slot {
                set_path(table, rest, node);
            }
        }
    }
}
