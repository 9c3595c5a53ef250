//! MNIST handwritten digits: loading from a folder, download, or the embedded sample.

use std::path::{Path, PathBuf};

use super::{download, idx, Samples};
use crate::error::{Error, Result};

/// The four standard MNIST file names (without `.gz`): train images, train labels, test images, test labels.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Default download mirror (the one TensorFlow uses); overridden by `$WORKBENCH_MNIST_URL`.
pub const DEFAULT_URL: &str = "https://storage.googleapis.com/cvdf-datasets/mnist/";

/// Environment variable overriding [`DEFAULT_URL`].
pub const URL_ENV_VAR: &str = "WORKBENCH_MNIST_URL";

/// The original gzipped MNIST files with their SHA-256 and sizes, as served by the mirrors.
pub const REMOTE_FILES: [download::RemoteFile<'static>; 4] = [
    download::RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        size: Some(9_912_422),
    },
    download::RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        size: Some(28_881),
    },
    download::RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        size: Some(1_648_877),
    },
    download::RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        size: Some(4_542),
    },
];

/// Number of training images in the embedded sample.
pub const EMBEDDED_TRAIN: usize = 2000;
/// Number of test images in the embedded sample.
pub const EMBEDDED_TEST: usize = 500;

const EMBEDDED: [&[u8]; 4] = [
    include_bytes!("../../data/mnist-sample/train-images-idx3-ubyte.gz"),
    include_bytes!("../../data/mnist-sample/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../data/mnist-sample/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../data/mnist-sample/t10k-labels-idx1-ubyte.gz"),
];

/// Where a loaded [`Mnist`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnistSource {
    /// Files found in this folder.
    Dir(PathBuf),
    /// Downloaded into this folder just now.
    Downloaded(PathBuf),
    /// The small sample compiled into the library.
    Embedded,
}

/// MNIST in memory: `u8` pixels, image-major, row-major; labels 0..=9.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// Training pixels, `train_len() * rows * cols` bytes.
    pub train_images: Vec<u8>,
    /// Training labels.
    pub train_labels: Vec<u8>,
    /// Test pixels, `test_len() * rows * cols` bytes.
    pub test_images: Vec<u8>,
    /// Test labels.
    pub test_labels: Vec<u8>,
    /// Rows per image (28).
    pub rows: usize,
    /// Columns per image (28).
    pub cols: usize,
    /// Where the data came from.
    pub source: MnistSource,
}

impl Mnist {
    /// Number of training images.
    pub fn train_len(&self) -> usize {
        self.train_labels.len()
    }

    /// Number of test images.
    pub fn test_len(&self) -> usize {
        self.test_labels.len()
    }

    /// The first `n` training images (all if fewer) as samples `[1, rows, cols]`, pixel minus 128.
    pub fn train_samples(&self, n: usize) -> Result<Samples> {
        self.samples(&self.train_images, &self.train_labels, n)
    }

    /// The first `n` test images (all if fewer) as samples `[1, rows, cols]`, pixel minus 128.
    pub fn test_samples(&self, n: usize) -> Result<Samples> {
        self.samples(&self.test_images, &self.test_labels, n)
    }

    fn samples(&self, images: &[u8], labels: &[u8], n: usize) -> Result<Samples> {
        let n = n.min(labels.len());
        Samples::new(
            to_f32_minus_128(&images[..n * self.image_size()]),
            labels[..n].iter().map(|&l| u32::from(l)).collect(),
            [1, self.rows, self.cols],
        )
    }

    /// Pixels per image (`rows * cols`).
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// Training image `i` (`rows * cols` bytes); panics if `i >= train_len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.train_images[i * n..(i + 1) * n]
    }

    /// Test image `i` (`rows * cols` bytes); panics if `i >= test_len()`.
    pub fn test_image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.test_images[i * n..(i + 1) * n]
    }

    /// A one-line description: counts, size and source.
    pub fn summary(&self) -> String {
        let from = match &self.source {
            MnistSource::Dir(d) => format!("from {}", d.display()),
            MnistSource::Downloaded(d) => format!("downloaded into {}", d.display()),
            MnistSource::Embedded => "the embedded sample".to_string(),
        };
        format!(
            "mnist: {} train + {} test images of {}x{}, {from}",
            self.train_len(),
            self.test_len(),
            self.rows,
            self.cols
        )
    }
}

/// The path of standard file `name` in `dir`: `name.gz` if it exists, else `name`, else `None`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Some(gz);
    }
    let raw = dir.join(name);
    raw.is_file().then_some(raw)
}

/// Whether `dir` holds all four MNIST files (gzipped or raw).
pub fn dir_is_complete(dir: &Path) -> bool {
    FILE_NAMES.iter().all(|n| find_file(dir, n).is_some())
}

/// Loads the four standard MNIST files (`.gz` or raw) from `dir`.
pub fn load_dir(dir: &Path) -> Result<Mnist> {
    let mut paths = Vec::with_capacity(4);
    for name in FILE_NAMES {
        paths.push(find_file(dir, name).ok_or_else(|| {
            Error::bad_file(
                dir,
                format!("mnist: missing {name}.gz (or {name}) in this folder"),
            )
        })?);
    }
    let mut bytes = Vec::with_capacity(4);
    for p in &paths {
        bytes.push(idx::read_maybe_gz(p)?);
    }
    assemble(&paths, &bytes, MnistSource::Dir(dir.to_path_buf()))
}

/// The embedded sample: the first 2,000 train and first 500 test images of MNIST.
pub fn load_embedded() -> Mnist {
    let paths: Vec<PathBuf> = FILE_NAMES
        .iter()
        .map(|n| PathBuf::from(format!("<embedded>/{n}.gz")))
        .collect();
    let bytes: Vec<Vec<u8>> = EMBEDDED
        .iter()
        .zip(&paths)
        .map(|(b, p)| idx::decompress_if_gz(b.to_vec(), p).expect("embedded sample is valid"))
        .collect();
    assemble(&paths, &bytes, MnistSource::Embedded).expect("embedded sample is valid")
}

/// Builds an [`Mnist`] from decompressed IDX bytes, checking counts, sizes and labels.
fn assemble(paths: &[PathBuf], bytes: &[Vec<u8>], source: MnistSource) -> Result<Mnist> {
    let train = idx::parse_images(&bytes[0], &paths[0])?;
    let train_labels = idx::parse_labels(&bytes[1], &paths[1])?;
    let test = idx::parse_images(&bytes[2], &paths[2])?;
    let test_labels = idx::parse_labels(&bytes[3], &paths[3])?;
    for (im, ims_path, labels, labels_path) in [
        (&train, &paths[0], &train_labels, &paths[1]),
        (&test, &paths[2], &test_labels, &paths[3]),
    ] {
        if im.count != labels.len() {
            return Err(Error::Data(format!(
                "mnist: {} has {} images but {} has {} labels",
                ims_path.display(),
                im.count,
                labels_path.display(),
                labels.len()
            )));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
            return Err(Error::bad_file(
                labels_path,
                format!("label {i} is {l}, expected 0..=9"),
            ));
        }
    }
    if (test.rows, test.cols) != (train.rows, train.cols) {
        return Err(Error::Data(format!(
            "mnist: {} has {}x{} images but {} has {}x{}",
            paths[0].display(),
            train.rows,
            train.cols,
            paths[2].display(),
            test.rows,
            test.cols
        )));
    }
    Ok(Mnist {
        rows: train.rows,
        cols: train.cols,
        train_images: train.pixels,
        train_labels,
        test_images: test.pixels,
        test_labels,
        source,
    })
}

/// The download mirror: `$WORKBENCH_MNIST_URL` if set, else [`DEFAULT_URL`].
pub fn url_base() -> String {
    std::env::var(URL_ENV_VAR)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// Where [`load`] may look for MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Download the files into the data directory when they are missing (default true).
    pub download: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { download: true }
    }
}

/// Loads MNIST from `data_dir/mnist/`, else downloads it there (if allowed), else uses the embedded sample.
///
/// Returns the data and a line to print saying where it came from. A broken
/// `mnist/` folder (corrupt or mismatched files) is an error, not a fallback.
pub fn load(data_dir: &Path, options: &LoadOptions) -> Result<(Mnist, String)> {
    let dir = data_dir.join("mnist");
    if dir_is_complete(&dir) {
        let m = load_dir(&dir)?;
        let line = m.summary();
        return Ok((m, line));
    }
    let why = if options.download {
        // Fetch only what is missing: files the user put there are never replaced.
        let missing: Vec<download::RemoteFile> = REMOTE_FILES
            .iter()
            .zip(FILE_NAMES)
            .filter(|(_, n)| find_file(&dir, n).is_none())
            .map(|(f, _)| *f)
            .collect();
        match download::fetch(
            &url_base(),
            &missing,
            &dir,
            &download::FetchOptions::default(),
        ) {
            Ok(()) => {
                let mut m = load_dir(&dir)?;
                m.source = MnistSource::Downloaded(dir.clone());
                let line = m.summary();
                return Ok((m, line));
            }
            Err(e) => format!("download failed ({e})"),
        }
    } else {
        "downloads not allowed".to_string()
    };
    let m = load_embedded();
    let line = format!(
        "mnist: no data in {} and {why}; using the embedded sample ({} train + {} test images)",
        dir.display(),
        m.train_len(),
        m.test_len()
    );
    Ok((m, line))
}

/// Pixels as `f32` minus 128, i.e. in `[-128, 127]` (the int8 input range).
pub fn to_f32_minus_128(images: &[u8]) -> Vec<f32> {
    images.iter().map(|&p| f32::from(p) - 128.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_sample_shape_and_first_labels() {
        let m = load_embedded();
        assert_eq!((m.rows, m.cols), (28, 28));
        assert_eq!(m.train_len(), EMBEDDED_TRAIN);
        assert_eq!(m.test_len(), EMBEDDED_TEST);
        assert_eq!(m.train_images.len(), 2000 * 784);
        assert_eq!(m.test_images.len(), 500 * 784);
        // MNIST's well-known first training labels: 5 0 4 1 9 2 1 3 1 4.
        assert_eq!(&m.train_labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        // And first test labels: 7 2 1 0 4 1 4 9 5 9.
        assert_eq!(&m.test_labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        // MNIST images have a blank border: the corners of image 0 are 0.
        let im = m.image(0);
        assert_eq!((im[0], im[27], im[27 * 28], im[783]), (0, 0, 0, 0));
        assert!(im.contains(&255));
        assert_eq!(m.source, MnistSource::Embedded);
    }

    #[test]
    fn minus_128() {
        // 0 -> -128, 128 -> 0, 255 -> 127.
        assert_eq!(to_f32_minus_128(&[0, 128, 255]), [-128.0, 0.0, 127.0]);
    }
}
