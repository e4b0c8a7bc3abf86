//! Touches to the OpenAPI document that poem-openapi cannot make itself.
//!
//! Request objects are `deny_unknown_fields` (an unknown field is a `422`),
//! but poem-openapi has no way to say `additionalProperties: false`, so a
//! client or a fuzzer reading the document would believe extra fields are
//! fine. [`refine`] adds it to every schema a request body names, keeping
//! the document's key order (serde_json's own map would sort it).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use std::fmt;

/// A JSON tree whose objects keep their key order.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Scalar(Value),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Object(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Object(entries) => entries,
            _ => &[],
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Sets `key`, after the existing keys when it is new.
    fn set(&mut self, key: &str, value: Node) {
        if let Node::Object(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some((_, existing)) => *existing = value,
                None => entries.push((key.to_owned(), value)),
            }
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Scalar(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Scalar(Value::Bool(v)))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }

            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Scalar(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Scalar(Value::String(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Scalar(Value::String(v)))
            }

            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar(Value::Null))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Node>()? {
                    entries.push((key, value));
                }
                Ok(Node::Object(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// The names of the component schemas that request bodies refer to.
fn request_body_schemas(doc: &Node) -> Vec<String> {
    let mut names = Vec::new();
    for (_, item) in doc.get("paths").map(Node::entries).unwrap_or_default() {
        for (_, operation) in item.entries() {
            let content = operation.get("requestBody").and_then(|body| body.get("content"));
            for (_, media) in content.map(Node::entries).unwrap_or_default() {
                let reference = media.get("schema").and_then(|s| s.get("$ref")).and_then(Node::as_str);
                if let Some(name) = reference.and_then(|r| r.strip_prefix(SCHEMA_PREFIX)) {
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
    }
    names
}

/// The document poem-openapi renders, with `additionalProperties: false` on
/// every request body object. Returns `raw` unchanged if it is not JSON.
pub fn refine(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Node>(raw) else { return raw.to_owned() };
    let names = request_body_schemas(&doc);
    if let Some(schemas) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")) {
        for name in names {
            if let Some(schema) = schemas.get_mut(&name) {
                schema.set("additionalProperties", Node::Scalar(Value::Bool(false)));
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.to_owned())
}

/// `spec` with a server at `url` listed first. The `/docs` page uses it
/// to name its own origin first, so "Try it out" calls the service that
/// served the page, while clients generated from the document default to
/// the local server it lists. Returns `spec` unchanged if it is not JSON.
pub fn with_first_server(spec: &str, url: &str, description: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Node>(spec) else { return spec.to_owned() };
    let server = Node::Object(vec![
        ("url".to_owned(), Node::Scalar(Value::String(url.to_owned()))),
        ("description".to_owned(), Node::Scalar(Value::String(description.to_owned()))),
    ]);
    match doc.get_mut("servers") {
        Some(Node::Array(servers)) => servers.insert(0, server),
        _ => doc.set("servers", Node::Array(vec![server])),
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_the_local_server_and_the_docs_page_its_own_origin_first() {
        let spec: Value = serde_json::from_str(&crate::app::http::spec_json()).unwrap();
        assert_eq!(spec["servers"][0]["url"], "http://127.0.0.1:8080");
        let page: Value =
            serde_json::from_str(&with_first_server(&crate::app::http::spec_json(), "/", "here")).unwrap();
        assert_eq!(
            (&page["servers"][0]["url"], &page["servers"][1]["url"]),
            (&"/".into(), &"http://127.0.0.1:8080".into())
        );
        assert_eq!(with_first_server("not json", "/", "here"), "not json");
    }

    #[test]
    fn new_passwords_state_their_minimum_length() {
        let spec: Value = serde_json::from_str(&crate::app::http::spec_json()).unwrap();
        let schemas = &spec["components"]["schemas"];
        assert_eq!(schemas["Credentials"]["properties"]["password"]["minLength"], 12);
        assert_eq!(schemas["PasswordChange"]["properties"]["new_password"]["minLength"], 12);
    }

    #[test]
    fn refining_keeps_key_order_and_closes_request_objects_only() {
        let raw = r##"{"z": 1, "paths": {"/a": {"post": {"requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/In"}}}}, "responses": {"200": {"content":
            {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}}}}},
            "components": {"schemas": {"Out": {"type": "object"}, "In": {"type": "object", "x": 1.5}}}}"##;
        let refined: Value = serde_json::from_str(&refine(raw)).unwrap();
        assert_eq!(refined["components"]["schemas"]["In"]["additionalProperties"], false);
        assert!(refined["components"]["schemas"]["Out"].get("additionalProperties").is_none());
        assert_eq!(refined["components"]["schemas"]["In"]["x"], 1.5);
        let text = refine(raw);
        assert!(text.find("\"z\"") < text.find("\"paths\"") && text.find("\"Out\"") < text.find("\"In\""));
        assert_eq!(refine("not json"), "not json");
    }

    #[test]
    fn refresh_tokens_have_one_documented_shape_in_and_out() {
        let spec: Value = serde_json::from_str(&crate::app::http::spec_json()).unwrap();
        let schemas = &spec["components"]["schemas"];
        let pattern = crate::app::http::text::REFRESH_TOKEN_PATTERN;
        for schema in ["TokenPair", "RefreshRequest", "LogoutRequest"] {
            assert_eq!(schemas[schema]["properties"]["refresh_token"]["pattern"], pattern, "{schema}");
        }
    }

    #[test]
    fn an_unrefined_document_round_trips_byte_for_byte() {
        let raw = crate::app::http::openapi_service().spec();
        let doc: Node = serde_json::from_str(&raw).unwrap();
        assert_eq!(serde_json::to_string_pretty(&doc).unwrap(), raw);
    }
}
