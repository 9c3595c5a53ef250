//! MNIST loading: the real files, the embedded sample, fallbacks and error messages.

mod data_common;

use std::io::Write;

use workbench::dataset::idx::{self, IdxImages};
use workbench::dataset::mnist::{self, MnistSource};

#[test]
fn loads_the_real_files() {
    let Some(dir) = data_common::mnist_dir() else {
        return;
    };
    let m = mnist::load_dir(&dir).unwrap();
    assert_eq!(
        (m.train_len(), m.test_len(), m.rows, m.cols),
        (60_000, 10_000, 28, 28)
    );
    assert_eq!(m.train_images.len(), 60_000 * 784);
    assert_eq!(m.source, MnistSource::Dir(dir.clone()));
    // Well-known first labels of MNIST train (5 0 4 1 9) and test (7 2 1 0 4).
    assert_eq!(&m.train_labels[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&m.test_labels[..5], &[7, 2, 1, 0, 4]);
    // Well-known class counts: 5,923 zeros and 6,742 ones in train; 980 zeros in test.
    let count = |ls: &[u8], c: u8| ls.iter().filter(|&&l| l == c).count();
    assert_eq!(count(&m.train_labels, 0), 5_923);
    assert_eq!(count(&m.train_labels, 1), 6_742);
    assert_eq!(count(&m.test_labels, 0), 980);
}

#[test]
fn embedded_sample_is_the_start_of_the_real_set() {
    let Some(dir) = data_common::mnist_dir() else {
        return;
    };
    let full = mnist::load_dir(&dir).unwrap();
    let s = mnist::load_embedded();
    assert_eq!(s.train_len(), mnist::EMBEDDED_TRAIN);
    assert_eq!(s.test_len(), mnist::EMBEDDED_TEST);
    assert_eq!(s.train_images, full.train_images[..2000 * 784]);
    assert_eq!(s.train_labels, full.train_labels[..2000]);
    assert_eq!(s.test_images, full.test_images[..500 * 784]);
    assert_eq!(s.test_labels, full.test_labels[..500]);
    assert_eq!(s.image(1999), full.image(1999));
    assert_eq!(s.test_image(499), full.test_image(499));
}

#[test]
fn load_prefers_the_data_dir() {
    let Some(dir) = data_common::mnist_dir() else {
        return;
    };
    let root = dir.parent().unwrap();
    let (m, line) = mnist::load(root, &mnist::LoadOptions { download: false }).unwrap();
    assert_eq!(m.train_len(), 60_000);
    assert_eq!(
        line,
        format!(
            "mnist: 60000 train + 10000 test images of 28x28, from {}",
            dir.display()
        )
    );
}

#[test]
fn load_falls_back_to_the_embedded_sample() {
    let root = data_common::temp_dir("mnist-fallback");
    let (m, line) = mnist::load(&root, &mnist::LoadOptions { download: false }).unwrap();
    assert_eq!(m.source, MnistSource::Embedded);
    assert_eq!(
        line,
        format!(
            "mnist: no data in {} and downloads not allowed; using the embedded sample (2000 train + 500 test images)",
            root.join("mnist").display()
        )
    );
    std::fs::remove_dir_all(&root).ok();
}

#[cfg(feature = "download")]
#[test]
fn load_falls_back_when_the_download_fails() {
    // A closed port as the mirror (only this test sets the variable).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::set_var(mnist::URL_ENV_VAR, format!("http://127.0.0.1:{port}/"));
    let root = data_common::temp_dir("mnist-dl-fails");
    let (m, line) = mnist::load(&root, &mnist::LoadOptions::default()).unwrap();
    std::env::remove_var(mnist::URL_ENV_VAR);
    assert_eq!(m.source, MnistSource::Embedded);
    assert!(
        line.contains("download failed (download http://127.0.0.1:"),
        "{line}"
    );
    assert!(
        line.ends_with("using the embedded sample (2000 train + 500 test images)"),
        "{line}"
    );
    std::fs::remove_dir_all(&root).ok();
}

/// Writes raw (not gzipped) IDX files for `n_images` images and `n_labels` labels.
fn write_raw_set(dir: &std::path::Path, n_images: usize, n_labels: usize) {
    let ims = IdxImages {
        count: n_images,
        rows: 2,
        cols: 2,
        pixels: vec![7; n_images * 4],
    };
    for (im, lb) in [
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ] {
        std::fs::write(dir.join(im), idx::encode_images(&ims)).unwrap();
        std::fs::write(dir.join(lb), idx::encode_labels(&vec![3; n_labels])).unwrap();
    }
}

#[test]
fn loads_raw_files_and_checks_counts() {
    let dir = data_common::temp_dir("mnist-raw");
    write_raw_set(&dir, 3, 3);
    let m = mnist::load_dir(&dir).unwrap();
    assert_eq!((m.train_len(), m.rows, m.cols), (3, 2, 2));
    assert_eq!(m.image(2), [7, 7, 7, 7]);
    // 3 images, 2 labels: the error names both files and both counts.
    write_raw_set(&dir, 3, 2);
    let e = mnist::load_dir(&dir).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "mnist: {} has 3 images but {} has 2 labels",
            dir.join("train-images-idx3-ubyte").display(),
            dir.join("train-labels-idx1-ubyte").display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = data_common::temp_dir("mnist-bad");
    write_raw_set(&dir, 2, 2);
    // A label out of range.
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        idx::encode_labels(&[3, 10]),
    )
    .unwrap();
    let e = mnist::load_dir(&dir).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: label 1 is 10, expected 0..=9",
            dir.join("t10k-labels-idx1-ubyte").display()
        )
    );
    // A gzip file cut in half takes precedence over the raw file and is reported.
    let gz_path = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&idx::encode_labels(&[1; 100])).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(&gz_path, &gz[..gz.len() / 2]).unwrap();
    let e = mnist::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: corrupt gzip", gz_path.display())),
        "{e}"
    );
    // Images and labels swapped: wrong magic.
    std::fs::remove_file(&gz_path).unwrap();
    std::fs::copy(
        dir.join("train-labels-idx1-ubyte"),
        dir.join("train-images-idx3-ubyte"),
    )
    .unwrap();
    let e = mnist::load_dir(&dir).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: wrong magic number 0x00000801, expected 0x00000803 (IDX images)",
            dir.join("train-images-idx3-ubyte").display()
        )
    );
    // A missing file.
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    let e = mnist::load_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("missing train-labels-idx1-ubyte.gz"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
