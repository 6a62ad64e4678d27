//! The JSON Schema subset that tool parameters may use: objects (properties, required),
//! string, number, integer, boolean, enum and array with items. Not responsible for
//! validating arguments against a schema or compiling it for constrained decoding.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

/// Where a schema leaves the supported subset: the key path inside the schema
/// (`properties.order_id.type`; empty for the schema itself) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

/// The `type` values of the subset.
pub const SUPPORTED_TYPES: &[&str] = &["object", "string", "number", "integer", "boolean", "array"];

/// Keywords every node may carry (annotations only).
const COMMON_KEYWORDS: &[&str] = &["type", "description", "title"];

/// Checks that `schema` stays inside the supported subset, naming the first keyword or
/// value that does not. Every node needs a `type`; objects may have `properties`,
/// `required` (names of listed properties) and `additionalProperties = false`; scalars may
/// have an `enum` of values of their type; arrays need `items`.
pub fn check_subset(schema: &Value) -> Result<(), SchemaError> {
    check_node(schema, "")
}

/// [`check_subset`] for the arguments of a tool call: the schema must also be an object.
pub fn check_parameters(schema: &Value) -> Result<(), SchemaError> {
    check_subset(schema)?;
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => Ok(()),
        other => Err(err(
            "type",
            format!(
                "tool parameters must be an object schema (type = \"object\"), found {}",
                other.map_or_else(|| "no type".to_string(), |t| format!("\"{t}\""))
            ),
        )),
    }
}

fn err(path: &str, message: String) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        message,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

fn check_node(node: &Value, path: &str) -> Result<(), SchemaError> {
    let Value::Object(map) = node else {
        return Err(err(
            path,
            format!("a schema must be a table, found {}", kind_of(node)),
        ));
    };
    let ty = match map.get("type") {
        None => {
            return Err(err(
                path,
                format!("missing `type` (one of {})", SUPPORTED_TYPES.join(", ")),
            ))
        }
        Some(Value::String(t)) if SUPPORTED_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(Value::String(t)) => {
            return Err(err(
                &join(path, "type"),
                format!(
                    "unsupported type \"{t}\" (supported: {})",
                    SUPPORTED_TYPES.join(", ")
                ),
            ))
        }
        Some(Value::Array(_)) => {
            return Err(err(
                &join(path, "type"),
                "a list of types is not supported; give one type".to_string(),
            ))
        }
        Some(other) => {
            return Err(err(
                &join(path, "type"),
                format!("expected a type name, found {}", kind_of(other)),
            ))
        }
    };
    let specific: &[&str] = match ty {
        "object" => &["properties", "required", "additionalProperties"],
        "array" => &["items"],
        _ => &["enum"],
    };
    for key in map.keys() {
        if !COMMON_KEYWORDS.contains(&key.as_str()) && !specific.contains(&key.as_str()) {
            let mut allowed: Vec<&str> = COMMON_KEYWORDS.to_vec();
            allowed.extend_from_slice(specific);
            return Err(err(
                &join(path, key),
                format!(
                    "unsupported schema keyword `{key}` (supported for {ty}: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    for key in ["description", "title"] {
        if let Some(v) = map.get(key) {
            if !v.is_string() {
                return Err(err(
                    &join(path, key),
                    format!("expected a string, found {}", kind_of(v)),
                ));
            }
        }
    }
    match ty {
        "object" => check_object(map, path),
        "array" => match map.get("items") {
            Some(items) => check_node(items, &join(path, "items")),
            None => Err(err(
                path,
                "an array schema needs `items` (the schema of its elements)".to_string(),
            )),
        },
        _ => match map.get("enum") {
            Some(values) => check_enum(values, ty, &join(path, "enum")),
            None => Ok(()),
        },
    }
}

fn check_object(map: &Map<String, Value>, path: &str) -> Result<(), SchemaError> {
    let empty = Map::new();
    let properties = match map.get("properties") {
        None => &empty,
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(err(
                &join(path, "properties"),
                format!(
                    "expected a table of property schemas, found {}",
                    kind_of(other)
                ),
            ))
        }
    };
    let props_path = join(path, "properties");
    for (name, schema) in properties {
        check_node(schema, &join(&props_path, name))?;
    }
    if let Some(required) = map.get("required") {
        let req_path = join(path, "required");
        let Value::Array(names) = required else {
            return Err(err(
                &req_path,
                format!(
                    "expected a list of property names, found {}",
                    kind_of(required)
                ),
            ));
        };
        let mut seen = HashSet::new();
        for name in names {
            let Some(name) = name.as_str() else {
                return Err(err(
                    &req_path,
                    format!("expected property names, found {}", kind_of(name)),
                ));
            };
            if !properties.contains_key(name) {
                return Err(err(
                    &req_path,
                    format!("\"{name}\" is required but not listed in `properties`"),
                ));
            }
            if !seen.insert(name) {
                return Err(err(&req_path, format!("\"{name}\" is listed twice")));
            }
        }
    }
    match map.get("additionalProperties") {
        None | Some(Value::Bool(false)) => Ok(()),
        Some(_) => Err(err(
            &join(path, "additionalProperties"),
            "only `additionalProperties = false` is supported".to_string(),
        )),
    }
}

fn check_enum(values: &Value, ty: &str, path: &str) -> Result<(), SchemaError> {
    let Value::Array(values) = values else {
        return Err(err(
            path,
            format!("expected a list of values, found {}", kind_of(values)),
        ));
    };
    if values.is_empty() {
        return Err(err(path, "an enum needs at least one value".to_string()));
    }
    for value in values {
        let fits = match ty {
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !fits {
            return Err(err(path, format!("enum value {value} is not of type {ty}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_the_subset() {
        let schema = json!({
            "type": "object",
            "description": "args",
            "properties": {
                "id": {"type": "string", "enum": ["a", "b"]},
                "n": {"type": "integer", "enum": [1, 2]},
                "x": {"type": "number"},
                "flag": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "inner": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}
            },
            "required": ["id"],
            "additionalProperties": false
        });
        assert_eq!(check_parameters(&schema), Ok(()));
    }

    #[test]
    fn names_what_is_unsupported() {
        let e = check_subset(
            &json!({"type": "object", "properties": {"id": {"type": "string", "minLength": 3}}}),
        )
        .unwrap_err();
        assert_eq!(e.path, "properties.id.minLength");
        assert!(
            e.message.contains("unsupported schema keyword `minLength`"),
            "{e}"
        );

        let e = check_subset(&json!({"type": "object", "properties": {"v": {"type": "null"}}}))
            .unwrap_err();
        assert_eq!(e.path, "properties.v.type");

        let e = check_subset(&json!({"type": "array"})).unwrap_err();
        assert!(e.message.contains("needs `items`"), "{e}");

        let e = check_subset(&json!({"type": "object", "properties": {}, "required": ["id"]}))
            .unwrap_err();
        assert_eq!(e.path, "required");

        let e = check_subset(&json!({"type": "integer", "enum": [1.5]})).unwrap_err();
        assert_eq!(e.path, "enum");

        let e = check_subset(&json!({"type": ["string", "null"]})).unwrap_err();
        assert_eq!(e.path, "type");

        let e = check_subset(&json!({"type": "object", "oneOf": []})).unwrap_err();
        assert_eq!(e.path, "oneOf");

        let e = check_parameters(&json!({"type": "string"})).unwrap_err();
        assert!(e.message.contains("must be an object"), "{e}");
    }
}
