//! Model parameters: typed key/value pairs a `.tflite` carries beside its
//! graph, such as how to normalize the input (`samplewise_norm.rescale`).
//!
//! The format is Silicon Labs MLTK's ("model parameters"): a flatbuffer
//! `Dictionary` (`workbench_tflite_schema::dictionary`, from MLTK's
//! `dictionary.fbs`) stored in the model's metadata entry named
//! [`METADATA_NAME`]. Files we write are read by MLTK's Python reader and its
//! device code, and theirs by us; TFLite interpreters ignore the entry.
//!
//! Values keep MLTK's sixteen types so a parameter read from an MLTK model is
//! written back with the same type. Readers that want a number ask
//! [`ParamValue::as_f64`] or [`ParamValue::as_bool`], which accept any scalar
//! as MLTK's device code does (its Python writer stores `0.0` as a double, for
//! example).
//!
//! A malformed dictionary (bad offsets, truncated, unknown value type, newer
//! schema version) is an error naming the entry, never a panic: the
//! flatbuffers verifier checks every offset before anything is read.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};
use crate::schema as fb;
use crate::schema::dictionary as dict;

/// Name of the `.tflite` metadata entry holding the parameters (MLTK's tag).
pub const METADATA_NAME: &str = "SL_PARAMSv1";

/// The dictionary schema version MLTK writes and the newest we read.
pub const SCHEMA_VERSION: u8 = 1;

/// One parameter value, with MLTK's type (`dictionary.fbs`'s `Value` union).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `bool`.
    Bool(bool),
    /// `int8`.
    I8(i8),
    /// `uint8`.
    U8(u8),
    /// `int16`.
    I16(i16),
    /// `uint16`.
    U16(u16),
    /// `int32`.
    I32(i32),
    /// `uint32`.
    U32(u32),
    /// `int64`.
    I64(i64),
    /// `uint64`.
    U64(u64),
    /// `float` (f32).
    F32(f32),
    /// `double` (f64).
    F64(f64),
    /// `str`: UTF-8 text.
    Str(String),
    /// `str_list`.
    StrList(Vec<String>),
    /// `int32_list`.
    I32List(Vec<i32>),
    /// `float_list`.
    F32List(Vec<f32>),
    /// `bin`: raw bytes.
    Bytes(Vec<u8>),
}

impl ParamValue {
    /// MLTK's name of the value's type (`"bool"`, `"int32"`, `"float"`, `"str"`, `"bin"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Bool(_) => "bool",
            ParamValue::I8(_) => "int8",
            ParamValue::U8(_) => "uint8",
            ParamValue::I16(_) => "int16",
            ParamValue::U16(_) => "uint16",
            ParamValue::I32(_) => "int32",
            ParamValue::U32(_) => "uint32",
            ParamValue::I64(_) => "int64",
            ParamValue::U64(_) => "uint64",
            ParamValue::F32(_) => "float",
            ParamValue::F64(_) => "double",
            ParamValue::Str(_) => "str",
            ParamValue::StrList(_) => "str_list",
            ParamValue::I32List(_) => "int32_list",
            ParamValue::F32List(_) => "float_list",
            ParamValue::Bytes(_) => "bin",
        }
    }

    /// The value as a number if it is a scalar (bool is 0 or 1), else `None`.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            ParamValue::Bool(v) => f64::from(u8::from(v)),
            ParamValue::I8(v) => f64::from(v),
            ParamValue::U8(v) => f64::from(v),
            ParamValue::I16(v) => f64::from(v),
            ParamValue::U16(v) => f64::from(v),
            ParamValue::I32(v) => f64::from(v),
            ParamValue::U32(v) => f64::from(v),
            ParamValue::I64(v) => v as f64,
            ParamValue::U64(v) => v as f64,
            ParamValue::F32(v) => f64::from(v),
            ParamValue::F64(v) => v,
            _ => return None,
        })
    }

    /// The value as a bool if it is a bool or an integer (non-zero is true), else `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            ParamValue::Bool(v) => Some(v),
            ParamValue::F32(_) | ParamValue::F64(_) => None,
            _ => self.as_f64().map(|v| v != 0.0),
        }
    }

    /// The text of a [`ParamValue::Str`], else `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Scalars as Rust prints them, lists comma-separated, bytes as `<N bytes>`.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        }
        match self {
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::I8(v) => write!(f, "{v}"),
            ParamValue::U8(v) => write!(f, "{v}"),
            ParamValue::I16(v) => write!(f, "{v}"),
            ParamValue::U16(v) => write!(f, "{v}"),
            ParamValue::I32(v) => write!(f, "{v}"),
            ParamValue::U32(v) => write!(f, "{v}"),
            ParamValue::I64(v) => write!(f, "{v}"),
            ParamValue::U64(v) => write!(f, "{v}"),
            ParamValue::F32(v) => write!(f, "{v}"),
            ParamValue::F64(v) => write!(f, "{v}"),
            ParamValue::Str(v) => write!(f, "{v:?}"),
            ParamValue::StrList(v) => {
                let quoted: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
                list(f, &quoted)
            }
            ParamValue::I32List(v) => list(f, v),
            ParamValue::F32List(v) => list(f, v),
            ParamValue::Bytes(v) => write!(f, "<{} bytes>", v.len()),
        }
    }
}

macro_rules! from_value {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for ParamValue {
            fn from(v: $t) -> Self {
                ParamValue::$variant(v)
            }
        })*
    };
}

from_value!(
    bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f32 => F32, f64 => F64, String => Str, Vec<String> => StrList,
    Vec<i32> => I32List, Vec<f32> => F32List, Vec<u8> => Bytes,
);

impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.to_string())
    }
}

/// The model parameters of a graph: keys in insertion order, each once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelParams {
    entries: Vec<(String, ParamValue)>,
}

impl ModelParams {
    /// No parameters (a graph with none writes no metadata entry).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&ParamValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, in place if the key exists, else at the end.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<ParamValue>) {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key` and returns its value, if it was set.
    pub fn remove(&mut self, key: &str) -> Option<ParamValue> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Parses MLTK's dictionary flatbuffer (the bytes of the metadata entry).
    pub fn from_flatbuffer(bytes: &[u8]) -> Result<Self> {
        let bad = |msg: String| Error::msg(format!("model parameters ({METADATA_NAME}): {msg}"));
        let root = dict::root_as_dictionary(bytes)
            .map_err(|e| bad(format!("not a valid dictionary flatbuffer: {e}")))?;
        match root.schema_version() {
            0 => return Err(bad("schema_version is missing".into())),
            v if v > SCHEMA_VERSION => {
                return Err(bad(format!(
                    "schema_version {v} is newer than the supported {SCHEMA_VERSION}"
                )))
            }
            _ => {}
        }
        let mut params = ModelParams::new();
        for (i, entry) in root.entries().into_iter().flatten().enumerate() {
            let key = entry
                .key()
                .ok_or_else(|| bad(format!("entry {i} has no key")))?;
            let value = read_value(&entry).map_err(|m| bad(format!("entry {i} ({key}): {m}")))?;
            params.set(key, value);
        }
        Ok(params)
    }

    /// Serializes to MLTK's dictionary flatbuffer (schema version 1).
    #[cfg(feature = "export")]
    pub fn to_flatbuffer(&self) -> Vec<u8> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(256);
        let entries: Vec<_> = self
            .entries
            .iter()
            .map(|(key, value)| {
                let key = fbb.create_string(key);
                let (value_type, value) = write_value(&mut fbb, value);
                dict::Entry::create(
                    &mut fbb,
                    &dict::EntryArgs {
                        key: Some(key),
                        value_type,
                        value: Some(value),
                    },
                )
            })
            .collect();
        let entries = fbb.create_vector(&entries);
        let root = dict::Dictionary::create(
            &mut fbb,
            &dict::DictionaryArgs {
                schema_version: SCHEMA_VERSION,
                entries: Some(entries),
            },
        );
        fbb.finish(root, None);
        fbb.finished_data().to_vec()
    }
}

/// One line per parameter, `key: value (type)`, in order.
impl fmt::Display for ModelParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{key}: {value} ({})", value.type_name())?;
        }
        Ok(())
    }
}

/// The parameters in `model`'s [`METADATA_NAME`] metadata entry; none if it has no such entry.
pub fn from_model(model: &fb::Model<'_>) -> Result<ModelParams> {
    let Some(entry) = model
        .metadata()
        .into_iter()
        .flatten()
        .find(|m| m.name() == Some(METADATA_NAME))
    else {
        return Ok(ModelParams::new());
    };
    let b = entry.buffer() as usize;
    let err = |msg: String| Error::msg(format!("metadata {METADATA_NAME}: {msg}"));
    let buffer = model
        .buffers()
        .filter(|bs| b < bs.len())
        .map(|bs| bs.get(b))
        .ok_or_else(|| err(format!("buffer index {b} out of range")))?;
    if buffer.offset() > 1 || buffer.size() > 0 {
        return Err(err(format!(
            "buffer {b} is stored outside the flatbuffer (offset {}, size {})",
            buffer.offset(),
            buffer.size()
        )));
    }
    let bytes = buffer.data().map(|d| d.bytes()).unwrap_or_default();
    ModelParams::from_flatbuffer(bytes)
}

/// The value of one dictionary entry, or what is wrong with it.
fn read_value(entry: &dict::Entry<'_>) -> core::result::Result<ParamValue, String> {
    let kind = entry.value_type();
    let missing = || format!("{} value table is missing", type_label(kind));
    macro_rules! scalar {
        ($get:ident, $variant:ident) => {
            entry
                .$get()
                .map(|v| ParamValue::$variant(v.value()))
                .ok_or_else(missing)
        };
    }
    match kind {
        dict::Value::boolean => scalar!(value_as_boolean, Bool),
        dict::Value::i8_ => scalar!(value_as_i_8_, I8),
        dict::Value::u8_ => scalar!(value_as_u_8_, U8),
        dict::Value::i16_ => scalar!(value_as_i_16_, I16),
        dict::Value::u16_ => scalar!(value_as_u_16_, U16),
        dict::Value::i32_ => scalar!(value_as_i_32_, I32),
        dict::Value::u32_ => scalar!(value_as_u_32_, U32),
        dict::Value::i64_ => scalar!(value_as_i_64_, I64),
        dict::Value::u64_ => scalar!(value_as_u_64_, U64),
        dict::Value::f32_ => scalar!(value_as_f_32_, F32),
        dict::Value::f64_ => scalar!(value_as_f_64_, F64),
        dict::Value::str => entry
            .value_as_str()
            .map(|v| ParamValue::Str(v.data().unwrap_or_default().to_string()))
            .ok_or_else(missing),
        dict::Value::str_list => entry
            .value_as_str_list()
            .map(|v| {
                ParamValue::StrList(
                    v.data()
                        .into_iter()
                        .flatten()
                        .map(ToString::to_string)
                        .collect(),
                )
            })
            .ok_or_else(missing),
        dict::Value::int32_list => entry
            .value_as_int_32_list()
            .map(|v| ParamValue::I32List(v.data().into_iter().flatten().collect()))
            .ok_or_else(missing),
        dict::Value::float_list => entry
            .value_as_float_list()
            .map(|v| ParamValue::F32List(v.data().into_iter().flatten().collect()))
            .ok_or_else(missing),
        dict::Value::bin => entry
            .value_as_bin()
            .map(|v| ParamValue::Bytes(v.data().map(|d| d.bytes().to_vec()).unwrap_or_default()))
            .ok_or_else(missing),
        other => Err(format!("unknown value type {}", other.0)),
    }
}

/// The schema's name of a value type, for messages.
fn type_label(kind: dict::Value) -> &'static str {
    kind.variant_name().unwrap_or("unknown")
}

/// Writes one value table and returns its union tag and offset.
#[cfg(feature = "export")]
fn write_value<'a>(
    fbb: &mut flatbuffers::FlatBufferBuilder<'a>,
    value: &ParamValue,
) -> (
    dict::Value,
    flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
) {
    macro_rules! scalar {
        ($table:ident, $args:ident, $tag:ident, $v:expr) => {
            (
                dict::Value::$tag,
                dict::$table::create(fbb, &dict::$args { value: $v }).as_union_value(),
            )
        };
    }
    match value {
        ParamValue::Bool(v) => scalar!(BoolValue, BoolValueArgs, boolean, *v),
        ParamValue::I8(v) => scalar!(Int8Value, Int8ValueArgs, i8_, *v),
        ParamValue::U8(v) => scalar!(Uint8Value, Uint8ValueArgs, u8_, *v),
        ParamValue::I16(v) => scalar!(Int16Value, Int16ValueArgs, i16_, *v),
        ParamValue::U16(v) => scalar!(Uint16Value, Uint16ValueArgs, u16_, *v),
        ParamValue::I32(v) => scalar!(Int32Value, Int32ValueArgs, i32_, *v),
        ParamValue::U32(v) => scalar!(Uint32Value, Uint32ValueArgs, u32_, *v),
        ParamValue::I64(v) => scalar!(Int64Value, Int64ValueArgs, i64_, *v),
        ParamValue::U64(v) => scalar!(Uint64Value, Uint64ValueArgs, u64_, *v),
        ParamValue::F32(v) => scalar!(FloatValue, FloatValueArgs, f32_, *v),
        ParamValue::F64(v) => scalar!(DoubleValue, DoubleValueArgs, f64_, *v),
        ParamValue::Str(s) => {
            let data = fbb.create_string(s);
            let t = dict::StringValue::create(fbb, &dict::StringValueArgs { data: Some(data) });
            (dict::Value::str, t.as_union_value())
        }
        ParamValue::StrList(list) => {
            let strings: Vec<_> = list.iter().map(|s| fbb.create_string(s)).collect();
            let data = fbb.create_vector(&strings);
            let t = dict::StringList::create(fbb, &dict::StringListArgs { data: Some(data) });
            (dict::Value::str_list, t.as_union_value())
        }
        ParamValue::I32List(list) => {
            let data = fbb.create_vector(list);
            let t = dict::Int32List::create(fbb, &dict::Int32ListArgs { data: Some(data) });
            (dict::Value::int32_list, t.as_union_value())
        }
        ParamValue::F32List(list) => {
            let data = fbb.create_vector(list);
            let t = dict::FloatList::create(fbb, &dict::FloatListArgs { data: Some(data) });
            (dict::Value::float_list, t.as_union_value())
        }
        ParamValue::Bytes(bytes) => {
            let data = fbb.create_vector(bytes);
            let t = dict::BinaryValue::create(fbb, &dict::BinaryValueArgs { data: Some(data) });
            (dict::Value::bin, t.as_union_value())
        }
    }
}

#[cfg(all(test, feature = "export"))]
mod tests {
    use super::*;
    use alloc::vec;

    fn every_type() -> ModelParams {
        let mut p = ModelParams::new();
        p.set("b", true);
        p.set("i8", -5i8);
        p.set("u8", 200u8);
        p.set("i16", -300i16);
        p.set("u16", 60000u16);
        p.set("i32", -70000i32);
        p.set("u32", 4_000_000_000u32);
        p.set("i64", -5_000_000_000i64);
        p.set("u64", u64::MAX);
        p.set("f32", 0.5f32);
        p.set("f64", 1e-300f64);
        p.set("s", "hello");
        p.set("sl", vec!["a".to_string(), String::new()]);
        p.set("il", vec![1i32, -2]);
        p.set("fl", vec![0.25f32, -1.5]);
        p.set("bin", vec![0u8, 1, 255]);
        p.set("empty", Vec::<f32>::new());
        p
    }

    #[test]
    fn round_trip_every_type() {
        let p = every_type();
        assert_eq!(ModelParams::from_flatbuffer(&p.to_flatbuffer()).unwrap(), p);
    }

    #[test]
    fn set_replaces_in_place() {
        let mut p = ModelParams::new();
        p.set("a", 1i32);
        p.set("b", 2i32);
        p.set("a", 3.0f32);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(p.get("a"), Some(&ParamValue::F32(3.0)));
        assert_eq!(p.remove("a"), Some(ParamValue::F32(3.0)));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn coercions_follow_mltk_device_getters() {
        assert_eq!(ParamValue::F64(0.0).as_f64(), Some(0.0));
        assert_eq!(ParamValue::U8(1).as_bool(), Some(true));
        assert_eq!(ParamValue::I32(0).as_bool(), Some(false));
        assert_eq!(ParamValue::F32(1.0).as_bool(), None);
        assert_eq!(ParamValue::Str("x".into()).as_f64(), None);
    }

    #[test]
    fn params_display_one_line_each() {
        let mut p = ModelParams::new();
        p.set("a", 0.5f32);
        p.set("b", true);
        assert_eq!(p.to_string(), "a: 0.5 (float)\nb: true (bool)");
    }

    #[test]
    fn display_is_one_line() {
        assert_eq!(ParamValue::F32List(vec![1.0, 0.5]).to_string(), "1,0.5");
        assert_eq!(ParamValue::Bytes(vec![1, 2]).to_string(), "<2 bytes>");
        assert_eq!(ParamValue::Str("a b".into()).to_string(), "\"a b\"");
    }

    /// Every truncation and every single-byte change of a valid dictionary
    /// gives a value or an error, never a panic.
    #[test]
    fn hostile_bytes_never_panic() {
        let bytes = every_type().to_flatbuffer();
        for n in 0..bytes.len() {
            let _ = ModelParams::from_flatbuffer(&bytes[..n]);
        }
        for i in 0..bytes.len() {
            for x in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = x;
                let _ = ModelParams::from_flatbuffer(&b);
            }
        }
    }

    #[test]
    fn newer_schema_version_is_an_error() {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let root = dict::Dictionary::create(
            &mut fbb,
            &dict::DictionaryArgs {
                schema_version: 2,
                entries: None,
            },
        );
        fbb.finish(root, None);
        let err = ModelParams::from_flatbuffer(fbb.finished_data()).unwrap_err();
        assert!(err.to_string().contains("schema_version 2"), "{err}");
    }
}
