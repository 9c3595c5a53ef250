//! NumPy `.npy` files: read and write the few dtypes the workbench uses.
//!
//! Supported dtypes: `int8`, `uint8`, `float32`, `int32`, `int64`, either
//! endianness on read, little-endian on write, C order only.

use std::io::{BufWriter, Write};
use std::path::Path;

use npyz::{TypeChar, WriterBuilder};

use crate::error::{Error, Result};

/// The elements of an array, flat in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `int8` (`i1`).
    I8(Vec<i8>),
    /// `uint8` (`u1`).
    U8(Vec<u8>),
    /// `float32` (`f4`).
    F32(Vec<f32>),
    /// `int32` (`i4`).
    I32(Vec<i32>),
    /// `int64` (`i8`).
    I64(Vec<i64>),
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NpyData::I8(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NumPy's name of the dtype, e.g. `float32`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            NpyData::I8(_) => "int8",
            NpyData::U8(_) => "uint8",
            NpyData::F32(_) => "float32",
            NpyData::I32(_) => "int32",
            NpyData::I64(_) => "int64",
        }
    }
}

/// An n-dimensional array: shape and C-order data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions; empty for a scalar.
    pub shape: Vec<usize>,
    /// Elements, `shape.iter().product()` of them.
    pub data: NpyData,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes, path)
}

/// Parses the bytes of a `.npy` file; `path` is only used in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let bad = |msg: String| Error::bad_file(path, msg);
    if !bytes.starts_with(MAGIC) {
        return Err(bad(
            "not an NPY file: missing the \\x93NUMPY magic string".to_string()
        ));
    }
    let npy = npyz::NpyFile::new(bytes).map_err(|e| bad(format!("bad NPY header: {e}")))?;
    if npy.order() == npyz::Order::Fortran {
        return Err(bad(
            "fortran_order arrays are not supported (save a C-contiguous array)".to_string(),
        ));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let dtype = npy.dtype();
    let npyz::DType::Plain(ts) = &dtype else {
        return Err(bad(format!(
            "unsupported dtype {}: structured arrays are not supported",
            dtype.descr()
        )));
    };
    let read_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(format!(
                "truncated data: shape {shape:?} needs {} elements of {ts}",
                shape.iter().product::<usize>()
            ))
        } else {
            bad(format!("bad NPY data: {e}"))
        }
    };
    let data = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => NpyData::I8(npy.into_vec().map_err(read_err)?),
        (TypeChar::Uint, 1) => NpyData::U8(npy.into_vec().map_err(read_err)?),
        (TypeChar::Float, 4) => NpyData::F32(npy.into_vec().map_err(read_err)?),
        (TypeChar::Int, 4) => NpyData::I32(npy.into_vec().map_err(read_err)?),
        (TypeChar::Int, 8) => NpyData::I64(npy.into_vec().map_err(read_err)?),
        _ => {
            return Err(bad(format!(
                "unsupported dtype {ts}; supported: int8, uint8, float32, int32, int64"
            )))
        }
    };
    Ok(NpyArray { shape, data })
}

/// Writes a `.npy` file (little-endian, C order).
pub fn write_npy(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    let path = path.as_ref();
    let expected: usize = array.shape.iter().product();
    if expected != array.data.len() {
        return Err(Error::bad_file(
            path,
            format!(
                "npy: shape {:?} needs {expected} elements, data has {}",
                array.shape,
                array.data.len()
            ),
        ));
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::new(file);
    let shape: Vec<u64> = array.shape.iter().map(|&d| d as u64).collect();
    let res = match &array.data {
        NpyData::I8(v) => write_all(&mut w, &shape, v),
        NpyData::U8(v) => write_all(&mut w, &shape, v),
        NpyData::F32(v) => write_all(&mut w, &shape, v),
        NpyData::I32(v) => write_all(&mut w, &shape, v),
        NpyData::I64(v) => write_all(&mut w, &shape, v),
    };
    res.and_then(|()| w.flush()).map_err(|e| Error::io(path, e))
}

fn write_all<T, W>(w: W, shape: &[u64], data: &[T]) -> std::io::Result<()>
where
    T: npyz::AutoSerialize + Copy,
    W: Write,
{
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(w)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()
}
