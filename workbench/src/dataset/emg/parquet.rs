//! Parquet reading and writing of sessions (the `parquet` feature; without it both functions return an error).

#[cfg(feature = "parquet")]
pub use imp::{read_parquet, write_parquet};
#[cfg(not(feature = "parquet"))]
pub use stub::{read_parquet, write_parquet};

#[cfg(not(feature = "parquet"))]
mod stub {
    use std::path::Path;

    use super::super::session::{ChannelType, Session};
    use crate::{Error, Result};

    fn off(path: &Path) -> Error {
        Error::bad_file(path, "built without the `parquet` feature of workbench")
    }

    /// Reads a session from Parquet: unavailable without the `parquet` feature.
    pub fn read_parquet(path: impl AsRef<Path>, _channels: usize) -> Result<Session> {
        Err(off(path.as_ref()))
    }

    /// Writes a session as Parquet: unavailable without the `parquet` feature.
    pub fn write_parquet(path: impl AsRef<Path>, _s: &Session, _t: ChannelType) -> Result<()> {
        Err(off(path.as_ref()))
    }
}

#[cfg(feature = "parquet")]
mod imp {
    use std::fs::File;
    use std::path::Path;
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
        UInt32Type, UInt64Type, UInt8Type,
    };
    use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::{ArrowWriter, ProjectionMask};
    use parquet::basic::Compression;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;

    use super::super::session::{channel_name, ChannelType, Session, TRIGGER};
    use crate::{Error, Result};

    /// Reads a session with at least `channels` channels (`Ch1`..`Ch<channels>`) from a Parquet file.
    ///
    /// Errors naming the file if it is not Parquet, lacks `Trigger` or a channel,
    /// or has nulls, NaNs or infinities, or a trigger that is not a non-negative whole number.
    pub fn read_parquet(path: impl AsRef<Path>, channels: usize) -> Result<Session> {
        let path = path.as_ref();
        let bad = |msg: String| Error::bad_file(path, msg);
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let metadata: Vec<(String, String)> = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .filter(|k| k.key != "ARROW:schema")
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let schema = builder.schema().clone();
        let names: Vec<String> = (0..channels)
            .map(channel_name)
            .chain([TRIGGER.to_string()])
            .collect();
        let mut indices = Vec::with_capacity(names.len());
        for name in &names {
            match schema.index_of(name) {
                Ok(i) => indices.push(i),
                Err(_) if name == TRIGGER => {
                    return Err(bad(format!(
                        "no {TRIGGER} column (columns: {})",
                        column_list(&schema)
                    )))
                }
                Err(_) => {
                    let found = (0..).take_while(|&i| schema.index_of(&channel_name(i)).is_ok());
                    return Err(bad(format!(
                    "expected {channels} channels Ch1..Ch{channels}, found {} (no column {name})",
                    found.count()
                )));
                }
            }
        }
        for (&i, name) in indices.iter().zip(&names) {
            let dt = schema.field(i).data_type();
            if !is_supported(dt) {
                return Err(bad(format!(
                    "column {name} has type {dt}, expected a float or integer type"
                )));
            }
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| bad(format!("cannot read Parquet data: {e}")))?;
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for batch in reader {
            let batch = batch.map_err(|e| bad(format!("cannot read Parquet data: {e}")))?;
            for (name, col) in names.iter().zip(cols.iter_mut()) {
                let array = batch
                    .column_by_name(name)
                    .ok_or_else(|| bad(format!("column {name} missing from a row group")))?;
                let offset = col.len();
                append_f64(array, col).map_err(|msg| bad(format!("column {name}: {msg}")))?;
                if let Some(r) = col[offset..].iter().position(|v| !v.is_finite()) {
                    return Err(bad(format!(
                        "column {name} row {} is {} (NaN or infinite values are not allowed)",
                        offset + r,
                        col[offset + r]
                    )));
                }
            }
        }
        let trigger_f = cols.pop().expect("trigger column");
        let mut trigger = Vec::with_capacity(trigger_f.len());
        for (r, &t) in trigger_f.iter().enumerate() {
            if t < 0.0 || t.fract() != 0.0 || t > i64::MAX as f64 {
                return Err(bad(format!(
                "{TRIGGER} row {r} is {t}, expected a gesture number (0 at rest, k > 0 for gesture k)"
            )));
            }
            trigger.push(t as i64);
        }
        Ok(Session {
            channels: cols,
            trigger,
            metadata,
        })
    }

    fn column_list(schema: &Schema) -> String {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    fn is_supported(dt: &DataType) -> bool {
        use DataType::*;
        matches!(
            dt,
            Float32 | Float64 | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        )
    }

    /// Appends a numeric array's values as f64; errors on nulls or unsupported types.
    fn append_f64(array: &ArrayRef, out: &mut Vec<f64>) -> std::result::Result<(), String> {
        if array.null_count() > 0 {
            let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
            return Err(format!(
                "{} null values (first at batch row {row})",
                array.null_count()
            ));
        }
        macro_rules! extend {
            ($t:ty) => {
                out.extend(
                    array
                        .as_primitive::<$t>()
                        .values()
                        .iter()
                        .map(|&v| v as f64),
                )
            };
        }
        match array.data_type() {
            DataType::Float32 => extend!(Float32Type),
            DataType::Float64 => extend!(Float64Type),
            DataType::Int8 => extend!(Int8Type),
            DataType::Int16 => extend!(Int16Type),
            DataType::Int32 => extend!(Int32Type),
            DataType::Int64 => extend!(Int64Type),
            DataType::UInt8 => extend!(UInt8Type),
            DataType::UInt16 => extend!(UInt16Type),
            DataType::UInt32 => extend!(UInt32Type),
            DataType::UInt64 => extend!(UInt64Type),
            dt => return Err(format!("type {dt}, expected a float or integer type")),
        }
        Ok(())
    }

    /// Writes a session as Parquet (Snappy-compressed): `Ch1`..`ChN` as `channel_type`,
    /// `Trigger` as float32, and the session's metadata as file key-value metadata.
    pub fn write_parquet(
        path: impl AsRef<Path>,
        session: &Session,
        channel_type: ChannelType,
    ) -> Result<()> {
        let path = path.as_ref();
        let n = session.len();
        if let Some(c) = session.channels.iter().position(|c| c.len() != n) {
            return Err(Error::bad_file(
                path,
                format!(
                    "cannot write: {} has {} samples, the trigger {n}",
                    channel_name(c),
                    session.channels[c].len()
                ),
            ));
        }
        let dt = match channel_type {
            ChannelType::F32 => DataType::Float32,
            ChannelType::F64 => DataType::Float64,
        };
        let mut fields: Vec<Field> = (0..session.channels.len())
            .map(|i| Field::new(channel_name(i), dt.clone(), false))
            .collect();
        fields.push(Field::new(TRIGGER, DataType::Float32, false));
        let schema = Arc::new(Schema::new(fields));
        let mut columns: Vec<ArrayRef> = session
            .channels
            .iter()
            .map(|c| -> ArrayRef {
                match channel_type {
                    ChannelType::F32 => {
                        Arc::new(Float32Array::from_iter_values(c.iter().map(|&v| v as f32)))
                    }
                    ChannelType::F64 => Arc::new(Float64Array::from(c.clone())),
                }
            })
            .collect();
        columns.push(Arc::new(Float32Array::from_iter_values(
            session.trigger.iter().map(|&t| t as f32),
        )));
        let io = |e: parquet::errors::ParquetError| {
            Error::bad_file(path, format!("writing Parquet: {e}"))
        };
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::bad_file(path, format!("writing Parquet: {e}")))?;
        let kv: Vec<KeyValue> = session
            .metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata((!kv.is_empty()).then_some(kv))
            .build();
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(io)?;
        writer.write(&batch).map_err(io)?;
        writer.close().map_err(io)?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::dataset::emg::session::Session;
        use arrow_array::{Int16Array, Int32Array};

        fn tmp(name: &str) -> std::path::PathBuf {
            let d =
                std::env::temp_dir().join(format!("workbench-emg-session-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d.join(name)
        }

        /// Writes columns as given, with no checks, to make good and bad files.
        fn write_columns(path: &Path, cols: Vec<(&str, ArrayRef)>) {
            let fields: Vec<Field> = cols
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let batch =
                RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect())
                    .unwrap();
            let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }

        fn f32s(v: &[f32]) -> ArrayRef {
            Arc::new(Float32Array::from(v.to_vec()))
        }

        fn err(path: &Path, channels: usize) -> String {
            read_parquet(path, channels).unwrap_err().to_string()
        }

        #[test]
        fn integer_channels_and_trigger_read_as_numbers() {
            let p = tmp("ints.parquet");
            write_columns(
                &p,
                vec![
                    ("Ch2", Arc::new(Int16Array::from(vec![-3, 4]))),
                    ("Ch1", Arc::new(Float64Array::from(vec![0.5, 1.5]))),
                    ("Extra", f32s(&[9.0, 9.0])),
                    ("Trigger", Arc::new(Int32Array::from(vec![0, 7]))),
                ],
            );
            let s = read_parquet(&p, 2).unwrap();
            assert_eq!(s.channels, vec![vec![0.5, 1.5], vec![-3.0, 4.0]]);
            assert_eq!(s.trigger, vec![0, 7]);
        }

        #[test]
        fn round_trip_keeps_values_and_metadata() {
            let p = tmp("rt.parquet");
            let mut s = Session::new(vec![vec![1.25, -2.0], vec![3.0, 4.5]], vec![0, 2]).unwrap();
            s.metadata = vec![("subject".into(), "x".into()), ("gain".into(), "12".into())];
            write_parquet(&p, &s, ChannelType::F64).unwrap();
            assert_eq!(read_parquet(&p, 2).unwrap(), s);
            write_parquet(&p, &s, ChannelType::F32).unwrap();
            assert_eq!(read_parquet(&p, 2).unwrap(), s);
        }

        #[test]
        fn bad_files_get_errors_naming_file_and_problem() {
            let p = tmp("no_trigger.parquet");
            write_columns(&p, vec![("Ch1", f32s(&[1.0])), ("Ch2", f32s(&[1.0]))]);
            let e = err(&p, 2);
            assert!(
                e.contains("no_trigger.parquet") && e.contains("no Trigger column"),
                "{e}"
            );

            let p = tmp("few.parquet");
            write_columns(&p, vec![("Ch1", f32s(&[1.0])), ("Trigger", f32s(&[0.0]))]);
            let e = err(&p, 8);
            assert!(
                e.contains("few.parquet") && e.contains("expected 8 channels Ch1..Ch8, found 1"),
                "{e}"
            );

            let p = tmp("nan.parquet");
            write_columns(
                &p,
                vec![
                    ("Ch1", f32s(&[1.0, f32::NAN])),
                    ("Trigger", f32s(&[0.0, 0.0])),
                ],
            );
            let e = err(&p, 1);
            assert!(
                e.contains("nan.parquet") && e.contains("Ch1 row 1 is NaN"),
                "{e}"
            );

            let p = tmp("frac.parquet");
            write_columns(&p, vec![("Ch1", f32s(&[1.0])), ("Trigger", f32s(&[1.5]))]);
            let e = err(&p, 1);
            assert!(e.contains("Trigger row 0 is 1.5"), "{e}");

            let p = tmp("null.parquet");
            write_columns(
                &p,
                vec![
                    ("Ch1", Arc::new(Float32Array::from(vec![Some(1.0), None]))),
                    ("Trigger", f32s(&[0.0, 0.0])),
                ],
            );
            let e = err(&p, 1);
            assert!(
                e.contains("null.parquet") && e.contains("null values"),
                "{e}"
            );

            let p = tmp("text.parquet");
            write_columns(
                &p,
                vec![
                    ("Ch1", Arc::new(arrow_array::StringArray::from(vec!["a"]))),
                    ("Trigger", f32s(&[0.0])),
                ],
            );
            let e = err(&p, 1);
            assert!(e.contains("Ch1 has type Utf8"), "{e}");

            let p = tmp("csv.parquet");
            std::fs::write(&p, "Ch1,Trigger\n1,0\n").unwrap();
            let e = err(&p, 1);
            assert!(
                e.contains("csv.parquet") && e.contains("not a readable Parquet file"),
                "{e}"
            );

            let e = err(&tmp("missing.parquet"), 1);
            assert!(e.contains("missing.parquet"), "{e}");
        }
    }
}
