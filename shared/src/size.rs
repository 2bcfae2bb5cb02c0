//! Entry sizes as EventBridge counts them, and the rule that trims an entry
//! too large to send.
//!
//! The trimming rule, in order, stopping as soon as the entry fits:
//! 1. `requestParameters`, `responseElements`, `additionalEventData`,
//!    `serviceEventDetails`, largest first;
//! 2. the other top-level values of the record, largest first;
//! 3. the entry's `Resources`;
//! 4. the whole record.
//!
//! Each trimmed value is replaced by a short marker string that says how many
//! bytes went, and its JSON pointer (into the delivered event) is recorded.

use serde_json::{Map, Value};

/// EventBridge counts a set `Time` as 14 bytes.
pub const TIME_BYTES: usize = 14;

/// The fields that hold the bulk of large records, trimmed first.
pub const BULKY_FIELDS: [&str; 4] = [
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
];

/// The size of a PutEvents entry as AWS counts it: 14 bytes for `Time` when
/// set, plus the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each of
/// `Resources`.
pub fn entry_size(source: &str, detail_type: &str, detail: &str, resources: &[String]) -> usize {
    TIME_BYTES
        + source.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(String::len).sum::<usize>()
}

/// Adds `"enrichment": <enrichment>` as the last key of a JSON object given
/// as text, leaving every byte of the object before it as it was.
pub fn splice_enrichment(object: &str, enrichment: &str) -> String {
    let body = object.trim_end();
    let open = body.strip_suffix('}').unwrap_or(body).trim_end();
    let mut out = String::with_capacity(open.len() + enrichment.len() + 16);
    out.push_str(open);
    if !open.ends_with('{') {
        out.push(',');
    }
    out.push_str("\"enrichment\":");
    out.push_str(enrichment);
    out.push('}');
    out
}

pub fn marker(bytes: usize) -> String {
    format!("[trimmed by trailrelay: {bytes} bytes]")
}

/// A JSON pointer to a top-level key of the delivered event's `detail`.
pub fn detail_pointer(key: &str) -> String {
    format!("/detail/{}", key.replace('~', "~0").replace('/', "~1"))
}

pub const RESOURCES_POINTER: &str = "/resources";
pub const DETAIL_POINTER: &str = "/detail";

/// Says whether an entry with this record, these resources and these
/// trimmed pointers fits the limit.
pub type Fits<'a> = dyn FnMut(&Map<String, Value>, &[String], &[String]) -> bool + 'a;

/// Trims `record` and `resources` by the rule above until `fits` says the
/// entry fits, and returns the pointers of what was trimmed. `fits` sees the
/// record, the resources and the pointers so far (the enrichment names them,
/// so they count towards the size too).
pub fn trim_to_fit(
    record: &mut Map<String, Value>,
    resources: &mut Vec<String>,
    fits: &mut Fits<'_>,
) -> Vec<String> {
    let mut pointers = Vec::new();
    if fits(record, resources, &pointers) {
        return pointers;
    }

    let size_of = |v: &Value| serde_json::to_string(v).map_or(0, |s| s.len());
    let mut sizes: Vec<(bool, usize, String)> = record
        .iter()
        .map(|(k, v)| (BULKY_FIELDS.contains(&k.as_str()), size_of(v), k.clone()))
        .collect();
    // Bulky fields first, then by size, largest first; ties by name so the
    // result does not depend on hash order.
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));

    for (_, size, key) in sizes {
        let replacement = marker(size);
        // A marker longer than the value would not help.
        if size <= replacement.len() + 2 {
            continue;
        }
        record.insert(key.clone(), Value::String(replacement));
        pointers.push(detail_pointer(&key));
        if fits(record, resources, &pointers) {
            return pointers;
        }
    }

    if !resources.is_empty() {
        let bytes = resources.iter().map(String::len).sum();
        *resources = vec![marker(bytes)];
        pointers.push(RESOURCES_POINTER.to_owned());
        if fits(record, resources, &pointers) {
            return pointers;
        }
    }

    let bytes = serde_json::to_string(&*record).map_or(0, |s| s.len());
    record.clear();
    record.insert("trailrelayTrimmed".to_owned(), Value::String(marker(bytes)));
    pointers.push(DETAIL_POINTER.to_owned());
    pointers
}

/// The longest prefix of `text`, at a character boundary, of at most `max` bytes.
pub fn prefix_within(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The longest prefix of `text` whose JSON string form (without its
/// quotes) takes at most `room` bytes. Escaping makes the JSON form longer
/// than the text, by how much depends on the text, so search for it.
pub fn longest_prefix_within(text: &str, room: usize) -> &str {
    let json_len = |s: &str| serde_json::to_string(s).map_or(usize::MAX, |j| j.len() - 2);
    let (mut fits, mut too_long) = (0, text.len() + 1);
    while too_long - fits > 1 {
        let mid = (fits + too_long) / 2;
        if json_len(prefix_within(text, mid)) <= room {
            fits = mid;
        } else {
            too_long = mid;
        }
    }
    prefix_within(text, fits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entry_size_counts_as_aws_does() {
        let resources = vec!["arn:a".to_owned(), "arn:bc".to_owned()];
        assert_eq!(
            entry_size("src", "dt", "{}", &resources),
            14 + 3 + 2 + 2 + 5 + 6
        );
        assert_eq!(entry_size("é", "", "", &[]), 14 + 2);
    }

    #[test]
    fn splice_keeps_the_object_and_adds_one_key() {
        assert_eq!(
            splice_enrichment(r#"{"a": 1 }"#, "{}"),
            r#"{"a": 1,"enrichment":{}}"#
        );
        assert_eq!(
            splice_enrichment("{ }", r#"{"x":1}"#),
            r#"{"enrichment":{"x":1}}"#
        );
        let spliced = splice_enrichment("{\n \"a\": [1, {\"b\": \"}\"}]\n}\n", "{}");
        let v: Value = serde_json::from_str(&spliced).unwrap();
        assert_eq!(v, json!({"a": [1, {"b": "}"}], "enrichment": {}}));
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(detail_pointer("a/b~c"), "/detail/a~1b~0c");
    }

    fn record(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn bulky_fields_go_first_largest_first() {
        let mut r = record(json!({
            "eventName": "PutObject",
            "requestParameters": {"p": "x".repeat(500)},
            "responseElements": {"q": "y".repeat(900)},
            "other": "z".repeat(2000),
        }));
        let mut res = vec![];
        let total = serde_json::to_string(&r).unwrap().len();
        let limit = total - 600;
        let pointers = trim_to_fit(&mut r, &mut res, &mut |m, _, _| {
            serde_json::to_string(m).unwrap().len() <= limit
        });
        assert_eq!(pointers, vec!["/detail/responseElements"]);
        assert_eq!(r["other"], json!("z".repeat(2000)));
        assert!(r["responseElements"].as_str().unwrap().contains("bytes"));
        assert_eq!(r["eventName"], "PutObject");
    }

    #[test]
    fn then_other_values_then_resources_then_everything() {
        let mut r = record(json!({"big": "z".repeat(3000), "small": "s"}));
        let mut res = vec!["r".repeat(1000)];
        let pointers = trim_to_fit(&mut r, &mut res, &mut |m, res, _| {
            serde_json::to_string(m).unwrap().len() + res.iter().map(String::len).sum::<usize>()
                <= 200
        });
        assert_eq!(pointers, vec!["/detail/big", "/resources"]);
        assert_eq!(r["small"], "s");
        assert!(res[0].contains("1000 bytes"));

        let mut r = record(json!({"a": "s", "b": "t"}));
        let pointers = trim_to_fit(&mut r, &mut vec![], &mut |_, _, p| {
            p.contains(&"/detail".to_owned())
        });
        assert_eq!(pointers, vec!["/detail"]);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn longest_prefix_counts_escapes() {
        assert_eq!(longest_prefix_within("a\"b", 3), "a\"");
        assert_eq!(longest_prefix_within("a\"b", 2), "a");
        assert_eq!(longest_prefix_within("ab", 100), "ab");
        assert_eq!(longest_prefix_within("éé", 3), "é");
        assert_eq!(longest_prefix_within("x", 0), "");
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix_within("héllo", 2), "h");
        assert_eq!(prefix_within("héllo", 3), "hé");
        assert_eq!(prefix_within("hi", 10), "hi");
    }
}
