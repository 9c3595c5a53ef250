//! Input batches and outputs as `.npy` (int8 or float32, C order).

use std::path::Path;

use npyz::{TypeChar, WriterBuilder};

use crate::error::{Error, Result};

/// Element type of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// int8.
    I8,
    /// float32 (little-endian on the wire).
    F32,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::I8 => 1,
            Elem::F32 => 4,
        }
    }

    /// NumPy's name.
    pub fn name(self) -> &'static str {
        match self {
            Elem::I8 => "int8",
            Elem::F32 => "float32",
        }
    }
}

/// An array: shape, element type and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Element type.
    pub elem: Elem,
    /// Elements as little-endian bytes.
    pub bytes: Vec<u8>,
}

impl Array {
    /// An int8 batch `[N, len]` from `N` samples of `len` values each (e.g. a notebook's quantized test inputs).
    pub fn from_i8_samples<S: AsRef<[i8]>>(samples: &[S]) -> Result<Array> {
        let len = samples.first().map_or(0, |s| s.as_ref().len());
        if let Some(s) = samples.iter().find(|s| s.as_ref().len() != len) {
            return Err(Error::Msg(format!(
                "int8 samples of different sizes: {len} and {}",
                s.as_ref().len()
            )));
        }
        Ok(Array {
            shape: vec![samples.len(), len],
            elem: Elem::I8,
            bytes: samples
                .iter()
                .flat_map(|s| s.as_ref().iter().map(|&v| v as u8))
                .collect(),
        })
    }
}

/// Reads an int8 or float32 `.npy` file.
pub fn read(path: &Path) -> Result<Array> {
    let bad = |message: String| Error::BadFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    if npy.order() == npyz::Order::Fortran {
        return Err(bad("fortran_order arrays are not supported".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err(bad("structured arrays are not supported".into()));
    };
    let trunc = |e: std::io::Error| bad(format!("bad data for shape {shape:?}: {e}"));
    let (elem, bytes) = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Int, 1) => {
            let v: Vec<i8> = npy.into_vec().map_err(trunc)?;
            (Elem::I8, v.iter().map(|&x| x as u8).collect())
        }
        (TypeChar::Float, 4) => {
            let v: Vec<f32> = npy.into_vec().map_err(trunc)?;
            (Elem::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
        _ => {
            return Err(bad(format!(
                "unsupported dtype {ts}; expected int8 or float32"
            )))
        }
    };
    Ok(Array { shape, elem, bytes })
}

/// Writes an array as `.npy`.
pub fn write(path: &Path, a: &Array) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
    let w = std::io::BufWriter::new(file);
    match a.elem {
        Elem::I8 => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()
                .map_err(io)?;
            w.extend(a.bytes.iter().map(|&b| b as i8)).map_err(io)?;
            w.finish().map_err(io)
        }
        Elem::F32 => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()
                .map_err(io)?;
            w.extend(
                a.bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            )
            .map_err(io)?;
            w.finish().map_err(io)
        }
    }
}
