//! Binary attachments: taking blobs out of a payload and putting them back.
//!
//! On the wire a blob inside an event's arguments is replaced by
//! `{"_placeholder":true,"num":N}`, N being the blob's index among the attachments that
//! follow the packet. [`deconstruct`] does the replacing for a payload built as [`Arg`]s,
//! [`reconstruct`] the reverse, and the decoder checks every placeholder of a binary
//! packet before it accepts its header.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::SocketIoError;

/// Key that marks a placeholder object.
const PLACEHOLDER_KEY: &str = "_placeholder";
/// Key holding a placeholder's attachment index.
const NUM_KEY: &str = "num";

/// An argument that may hold binary blobs at any depth: JSON with binary leaves.
///
/// [`reconstruct`] returns the smallest such tree: a sub-tree without blobs is one
/// [`Arg::Json`], and only the arrays and objects on the way to a blob are
/// [`Arg::Array`]/[`Arg::Object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A JSON value without blobs.
    Json(Value),
    /// A binary blob.
    Binary(Bytes),
    /// An array with blobs somewhere inside.
    Array(Vec<Arg>),
    /// An object with blobs somewhere inside; keys keep their order.
    Object(Vec<(String, Arg)>),
}

impl From<Value> for Arg {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

impl From<Bytes> for Arg {
    fn from(bytes: Bytes) -> Self {
        Self::Binary(bytes)
    }
}

/// The placeholder for attachment `num`: `{"_placeholder":true,"num":num}`.
pub fn placeholder(num: usize) -> Value {
    let mut object = Map::new();
    object.insert(PLACEHOLDER_KEY.to_owned(), Value::Bool(true));
    object.insert(NUM_KEY.to_owned(), Value::from(num));
    Value::Object(object)
}

/// Replaces every blob in `args` by a placeholder; returns the JSON arguments and the
/// blobs, numbered in depth-first order (the reference encoder's order).
pub fn deconstruct(args: Vec<Arg>) -> (Vec<Value>, Vec<Bytes>) {
    let mut attachments = Vec::new();
    let values = args
        .into_iter()
        .map(|arg| take_blobs(arg, &mut attachments))
        .collect();
    (values, attachments)
}

fn take_blobs(arg: Arg, attachments: &mut Vec<Bytes>) -> Value {
    match arg {
        Arg::Json(value) => value,
        Arg::Binary(bytes) => {
            attachments.push(bytes);
            placeholder(attachments.len() - 1)
        }
        Arg::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| take_blobs(item, attachments))
                .collect(),
        ),
        Arg::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, item)| (key, take_blobs(item, attachments)))
                .collect(),
        ),
    }
}

/// Puts the blobs back: every placeholder in `args` becomes the attachment it refers to.
///
/// Fails with [`SocketIoError::InvalidPlaceholder`] if a placeholder's `num` is not an
/// index into `attachments`.
pub fn reconstruct(args: Vec<Value>, attachments: &[Bytes]) -> Result<Vec<Arg>, SocketIoError> {
    args.into_iter()
        .map(|value| put_blobs(value, attachments))
        .collect()
}

fn put_blobs(value: Value, attachments: &[Bytes]) -> Result<Arg, SocketIoError> {
    if let Some(index) = placeholder_index(&value, attachments.len())? {
        return attachments
            .get(index)
            .cloned()
            .map(Arg::Binary)
            .ok_or(SocketIoError::InvalidPlaceholder);
    }
    if !has_placeholder(&value) {
        return Ok(Arg::Json(value));
    }
    Ok(match value {
        Value::Array(items) => Arg::Array(
            items
                .into_iter()
                .map(|item| put_blobs(item, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(entries) => Arg::Object(
            entries
                .into_iter()
                .map(|(key, item)| Ok((key, put_blobs(item, attachments)?)))
                .collect::<Result<_, SocketIoError>>()?,
        ),
        other => Arg::Json(other),
    })
}

/// Checks that every placeholder in `values` names one of `count` attachments.
pub(super) fn check_placeholders(values: &[Value], count: usize) -> Result<(), SocketIoError> {
    values
        .iter()
        .try_for_each(|value| check_value(value, count))
}

fn check_value(value: &Value, count: usize) -> Result<(), SocketIoError> {
    if placeholder_index(value, count)?.is_some() {
        return Ok(());
    }
    match value {
        Value::Array(items) => check_placeholders(items, count),
        Value::Object(entries) => entries
            .values()
            .try_for_each(|item| check_value(item, count)),
        _ => Ok(()),
    }
}

/// `Some(num)` if `value` is a placeholder (an object whose `_placeholder` is `true`, as
/// the reference decoder defines it) with a valid index below `count`; an error if it is
/// a placeholder with a bad index; `None` if it is not a placeholder.
fn placeholder_index(value: &Value, count: usize) -> Result<Option<usize>, SocketIoError> {
    let Value::Object(object) = value else {
        return Ok(None);
    };
    if object.get(PLACEHOLDER_KEY) != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let index = object
        .get(NUM_KEY)
        .and_then(Value::as_u64)
        .and_then(|num| usize::try_from(num).ok())
        .filter(|&num| num < count)
        .ok_or(SocketIoError::InvalidPlaceholder)?;
    Ok(Some(index))
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::Object(object) => {
            object.get(PLACEHOLDER_KEY) == Some(&Value::Bool(true))
                || object.values().any(has_placeholder)
        }
        Value::Array(items) => items.iter().any(has_placeholder),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blob(bytes: &'static [u8]) -> Arg {
        Arg::Binary(Bytes::from_static(bytes))
    }

    #[test]
    fn deconstruct_numbers_blobs_depth_first() {
        let args = vec![
            blob(&[1, 2]),
            Arg::Object(vec![
                ("name".into(), Arg::Json(json!("a.png"))),
                ("data".into(), blob(&[3])),
                (
                    "thumbs".into(),
                    Arg::Array(vec![blob(&[4]), Arg::Json(json!(7))]),
                ),
            ]),
            Arg::Json(json!({"plain": [1]})),
        ];
        let (values, attachments) = deconstruct(args.clone());
        assert_eq!(
            values,
            vec![
                json!({"_placeholder": true, "num": 0}),
                json!({"name": "a.png", "data": {"_placeholder": true, "num": 1},
                       "thumbs": [{"_placeholder": true, "num": 2}, 7]}),
                json!({"plain": [1]}),
            ]
        );
        assert_eq!(attachments, vec![&[1u8, 2][..], &[3], &[4]]);

        // Objects come back with serde_json's key order, so compare at the wire level
        // and check the shape of the simple parts.
        let rebuilt = reconstruct(values.clone(), &attachments).expect("valid");
        assert_eq!(rebuilt.first(), Some(&blob(&[1, 2])));
        assert_eq!(rebuilt.get(2), Some(&Arg::Json(json!({"plain": [1]}))));
        assert_eq!(deconstruct(rebuilt), (values, attachments));
    }

    #[test]
    fn reconstruct_keeps_blob_free_subtrees_as_json() {
        let values = vec![
            json!([1, {"_placeholder": true, "num": 0}]),
            json!({"a": [true]}),
        ];
        let rebuilt = reconstruct(values, &[Bytes::from_static(b"x")]).expect("valid");
        assert_eq!(
            rebuilt,
            vec![
                Arg::Array(vec![Arg::Json(json!(1)), blob(b"x")]),
                Arg::Json(json!({"a": [true]})),
            ]
        );
    }

    #[test]
    fn bad_placeholders_are_refused() {
        let one = [Bytes::from_static(b"x")];
        for bad in [
            json!({"_placeholder": true, "num": 1}),
            json!({"_placeholder": true, "num": -1}),
            json!({"_placeholder": true, "num": 0.5}),
            json!({"_placeholder": true, "num": "0"}),
            json!({"_placeholder": true}),
            json!([[{"_placeholder": true, "num": 9}]]),
        ] {
            assert!(
                matches!(
                    reconstruct(vec![bad.clone()], &one),
                    Err(SocketIoError::InvalidPlaceholder)
                ),
                "{bad}"
            );
            assert!(matches!(
                check_placeholders(&[bad], 1),
                Err(SocketIoError::InvalidPlaceholder)
            ));
        }
        // `_placeholder` other than `true` is ordinary data, as in the reference decoder.
        let not_one = json!({"_placeholder": "yes", "num": 5});
        assert!(check_placeholders(std::slice::from_ref(&not_one), 1).is_ok());
        assert_eq!(
            reconstruct(vec![not_one.clone()], &one).expect("valid"),
            vec![Arg::Json(not_one)]
        );
    }

    #[test]
    fn placeholder_serialises_like_the_reference() {
        let mut out = Vec::new();
        crate::json::write_json(&mut out, &placeholder(3));
        assert_eq!(out, br#"{"_placeholder":true,"num":3}"#);
    }
}
