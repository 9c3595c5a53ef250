//! Images: the ImageFolder reader on shapes-synth, JPEG decoding and the
//! evaluation transform against TensorFlow's (`tf.io.decode_jpeg`,
//! `tf.image.resize`), the random crop's rules, the seeded loader, and bad files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use workbench::dataset::images::transform::{center_crop, resize_shorter};
use workbench::dataset::images::{
    read_rgb, ImageFolder, Loader, LoaderOptions, Normalize, RandomResizedCrop, Transform,
};
use workbench::npy::{read_npy, write_npy, NpyArray, NpyData};
use workbench_tests::fixtures::scratch_dir;
use workbench_tests::reference::python;

fn shapes() -> PathBuf {
    workbench_tests::data_dir().join("shapes-synth")
}

const CLASSES: [&str; 10] = [
    "arrow", "checker", "circle", "cross", "diamond", "ring", "square", "star", "stripes",
    "triangle",
];

#[test]
fn shapes_synth_has_sorted_classes_and_every_image() -> Result<()> {
    let (train, val) = ImageFolder::splits(&shapes())?;
    assert_eq!(train.classes, CLASSES);
    assert_eq!(train.class_counts(), vec![400; 10]);
    assert_eq!(val.class_counts(), vec![80; 10]);
    assert!(train.skipped.is_empty() && val.skipped.is_empty());
    // Within a class, files in path order; labels follow the class order.
    let first: Vec<_> = train.items.iter().take(400).collect();
    assert!(first.iter().all(|(_, l)| *l == 0));
    assert!(first.windows(2).all(|w| w[0].0 < w[1].0));
    Ok(())
}

/// Runs a python snippet from the reference venv with `args`.
fn py(code: &str, args: &[&Path]) -> Result<()> {
    let out = Command::new(python()?)
        .arg("-c")
        .arg(code)
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()?;
    ensure!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The values of a uint8 `.npy` file.
fn u8s(path: &Path) -> Result<Vec<u8>> {
    match read_npy(path)?.data {
        NpyData::U8(v) => Ok(v),
        other => anyhow::bail!(
            "{}: {} instead of uint8",
            path.display(),
            other.dtype_name()
        ),
    }
}

/// Mean and largest absolute difference of two equal-length u8 buffers.
fn mean_max(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    let max = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| x.abs_diff(y))
        .max()
        .unwrap_or(0);
    (sum as f64 / a.len() as f64, max)
}

#[test]
fn jpeg_decoding_and_eval_transform_match_tensorflow() -> Result<()> {
    let (_, val) = ImageFolder::splits(&shapes())?;
    // Two images of each class.
    let paths: Vec<&Path> = (0..10)
        .flat_map(|c| [c * 80, c * 80 + 41])
        .map(|i| val.items[i].0.as_path())
        .collect();
    let dir = scratch_dir("images_tf")?;
    let (decoded, ours_raw) = (dir.join("decoded.npy"), dir.join("ours_raw.npy"));
    let resized = dir.join("resized.npy");
    // Ours decoded, handed to TensorFlow for the resize so the two steps are compared apart.
    let ours: Vec<_> = paths
        .iter()
        .map(|p| read_rgb(p))
        .collect::<workbench::Result<_>>()?;
    let flat: Vec<u8> = ours.iter().flat_map(|i| i.as_raw().clone()).collect();
    let array = NpyArray {
        shape: vec![paths.len(), 96, 96, 3],
        data: NpyData::U8(flat.clone()),
    };
    write_npy(&ours_raw, &array).context("writing npy")?;
    let mut args: Vec<&Path> = vec![&decoded, &ours_raw, &resized];
    args.extend(paths.iter());
    py(
        r#"
import sys, numpy as np, tensorflow as tf
dec, ours, out = sys.argv[1:4]
imgs = [tf.io.decode_jpeg(open(p, "rb").read(), channels=3).numpy() for p in sys.argv[4:]]
np.save(dec, np.stack(imgs))
x = tf.constant(np.load(ours).astype(np.float32))
# torchvision's Resize(109) of a 96 x 96 image, antialiased bilinear, then CenterCrop(96) at offset round(6.5) = 6.
r = tf.image.resize(x, [109, 109], method="bilinear", antialias=True)
r = tf.clip_by_value(tf.round(r), 0, 255)[:, 6:102, 6:102, :]
np.save(out, r.numpy().astype(np.uint8))
"#,
        &args,
    )?;
    let (mean, max) = mean_max(&flat, &u8s(&decoded)?);
    eprintln!("JPEG decoding vs tf.io.decode_jpeg: mean |diff| {mean:.3}, max {max} (of 255)");
    // Two JPEG decoders (zune-jpeg here, libjpeg-turbo in TensorFlow) whose IDCT
    // and chroma upsampling round differently: measured mean 1.17, max 7 levels.
    assert!(
        mean < 1.5 && max <= 12,
        "decoding differs: mean {mean}, max {max}"
    );

    let t = Transform::eval(96);
    assert_eq!(
        t,
        Transform::Eval {
            resize: 109,
            crop: 96
        }
    );
    let mut rng = StdRng::seed_from_u64(0);
    let ours_eval: Vec<u8> = ours
        .iter()
        .flat_map(|i| t.apply(i, &mut rng).into_raw())
        .collect();
    let (mean, max) = mean_max(&ours_eval, &u8s(&resized)?);
    // Measured: mean 0.001, max 1 (a rounding step of the triangle filter).
    eprintln!("Resize(109) + CenterCrop(96) vs tf.image.resize: mean |diff| {mean:.3}, max {max}");
    assert!(
        mean < 0.05 && max <= 1,
        "eval transform differs: mean {mean}, max {max}"
    );
    // The pieces agree with the whole.
    let piece = center_crop(&resize_shorter(&ours[0], 109), 96);
    assert_eq!(piece.as_raw()[..], ours_eval[..96 * 96 * 3]);
    Ok(())
}

#[test]
fn random_resized_crop_follows_torchvision_rules_and_the_seed() {
    let crop = RandomResizedCrop {
        size: 64,
        ..RandomResizedCrop::default()
    };
    let mut rng = StdRng::seed_from_u64(7);
    let mut areas = Vec::new();
    for _ in 0..2000 {
        let (top, left, h, w) = crop.region(160, 120, &mut rng);
        assert!(h > 0 && w > 0 && top + h <= 120 && left + w <= 160);
        areas.push((h * w) as f64 / (160.0 * 120.0));
        let r = w as f64 / h as f64;
        // Rounding to whole pixels can step just past the ratio range.
        assert!(r > 0.7 && r < 1.45, "ratio {r}");
    }
    let mean = areas.iter().sum::<f64>() / areas.len() as f64;
    // Uniform area in [0.08, 1] has mean 0.54; rejected draws skew it a little lower.
    assert!((0.4..0.6).contains(&mean), "mean area {mean}");
    // Same seed, same regions.
    let a: Vec<_> = (0..5)
        .scan(StdRng::seed_from_u64(1), |r, _| {
            Some(crop.region(96, 96, r))
        })
        .collect();
    let b: Vec<_> = (0..5)
        .scan(StdRng::seed_from_u64(1), |r, _| {
            Some(crop.region(96, 96, r))
        })
        .collect();
    assert_eq!(a, b);
    // A sliver outside the ratio range falls back to a centre crop clamped to the range.
    let mut r = StdRng::seed_from_u64(0);
    let tiny = RandomResizedCrop {
        scale: (1.0, 1.0),
        ..crop
    };
    assert_eq!(tiny.region(400, 10, &mut r), (0, 193, 10, 13));
}

#[test]
fn loader_is_seeded_and_covers_each_image_once() -> Result<()> {
    let (_, val) = ImageFolder::splits(&shapes())?;
    let opts = LoaderOptions {
        batch_size: 96,
        seed: 3,
        ..LoaderOptions::default()
    };
    let loader = Loader::new(val, Transform::train(32), Normalize::IMAGENET, opts)?;
    let batches: Vec<_> = loader.epoch(0).collect::<workbench::Result<_>>()?;
    assert_eq!(batches.len(), 9); // 800 = 8 x 96 + 32
    assert_eq!(batches[8].len(), 32);
    assert_eq!(batches[0].shape, [3, 32, 32]);
    let mut labels: Vec<u32> = batches.iter().flat_map(|b| b.labels.clone()).collect();
    labels.sort_unstable();
    assert_eq!(labels, (0..10).flat_map(|c| [c; 80]).collect::<Vec<u32>>());
    // The same epoch again: the same images, bit for bit (threads do not matter).
    let again = loader.epoch(0).next().unwrap()?;
    assert_eq!(again.images, batches[0].images);
    // Another epoch: another order.
    let other = loader.epoch(1).next().unwrap()?;
    assert_ne!(other.labels, batches[0].labels);
    // Normalized with ImageNet's statistics: values within (0 - 0.485) / 0.229 .. (1 - 0.406) / 0.225.
    assert!(batches[0]
        .images
        .iter()
        .all(|&v| (-2.12..=2.64).contains(&v)));
    Ok(())
}

#[test]
fn bad_images_and_folders_name_the_problem() -> Result<()> {
    let dir = scratch_dir("images_bad")?;
    let good = ImageFolder::open(&shapes().join("val"))?.items[0].0.clone();
    let bytes = std::fs::read(&good)?;
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.join("train").join(class))?;
        std::fs::create_dir_all(dir.join("val").join(class))?;
    }
    let truncated = dir.join("train/a/truncated.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3])?;
    let garbage = dir.join("train/b/garbage.jpg");
    std::fs::write(&garbage, b"this is not an image")?;
    std::fs::write(dir.join("train/b/notes.txt"), b"skipped, and counted")?;
    for (path, want) in [
        (&truncated, "truncated JPEG"),
        (&garbage, "not a JPEG or PNG"),
    ] {
        let err = read_rgb(path).unwrap_err().to_string();
        assert!(
            err.contains(&*path.to_string_lossy()) && err.contains(want),
            "{err}"
        );
    }
    // The loader stops at the bad file and says which it is.
    let train = ImageFolder::open(&dir.join("train"))?;
    assert_eq!(train.skipped.len(), 1);
    assert!(
        train.to_string().contains("1 other files skipped"),
        "{train}"
    );
    let loader = Loader::new(
        train,
        Transform::eval(32),
        Normalize::IMAGENET,
        LoaderOptions::default(),
    )?;
    let err = loader.all().unwrap_err().to_string();
    assert!(
        err.contains("truncated.jpg") || err.contains("garbage.jpg"),
        "{err}"
    );
    // An empty class folder and mismatched splits.
    let err = ImageFolder::open(&dir.join("val")).unwrap_err().to_string();
    assert!(
        err.contains("val/a") && err.contains("no image files"),
        "{err}"
    );
    std::fs::write(dir.join("val/a/x.jpg"), &bytes)?;
    std::fs::write(dir.join("val/b/x.jpg"), &bytes)?;
    std::fs::create_dir_all(dir.join("val/c"))?;
    std::fs::write(dir.join("val/c/x.jpg"), &bytes)?;
    let err = ImageFolder::splits(&dir).unwrap_err().to_string();
    assert!(err.contains("only in val: [\"c\"]"), "{err}");
    Ok(())
}
