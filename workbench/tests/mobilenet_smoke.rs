//! MobileNetV1 0.25 at 64x64 trained for 100 SGD steps on a few
//! hundred shapes-synth images through the image loader: the loss on the
//! training images goes down. Data: `$WORKBENCH_DATA/shapes-synth`, else
//! `../shared/data/shapes-synth` beside the repository (the test command's default).
#![cfg(feature = "images")]

use std::time::Instant;

use workbench::dataset::images::{ImageFolder, Loader, LoaderOptions, Normalize, Transform};
use workbench::models::{mobilenet_v1, MobileNetV1Config};
use workbench::train::{evaluate, fit, FitConfig, Length, OptimizerChoice, SgdConfig};

/// Images per class in the slice trained on.
const PER_CLASS: usize = 30;
/// Input side: at 32 the last blocks see 1x1 maps and 100 steps do not
/// move the loss; at 64 (2x2) they do (loss 2.30 -> 1.83, accuracy 0.11 -> 0.34).
const SIDE: usize = 64;

mod data_common;

use data_common::shapes_synth as data;

/// Every class's first `n` images.
fn slice(mut folder: ImageFolder, n: usize) -> ImageFolder {
    let mut seen = vec![0usize; folder.classes.len()];
    folder.items.retain(|(_, label)| {
        let c = &mut seen[*label as usize];
        *c += 1;
        *c <= n
    });
    folder
}

#[test]
fn mobilenet_v1_learns_shapes() {
    let root = data();
    workbench::threads::configure(&Default::default());
    let (train, _) = ImageFolder::splits(&root).unwrap();
    let train = slice(train, PER_CLASS);
    let classes = train.classes.len();
    assert_eq!(train.len(), classes * PER_CLASS);
    let opts = LoaderOptions {
        batch_size: 32,
        seed: 1,
        ..Default::default()
    };
    let loader = Loader::new(
        train.clone(),
        // no random crops: a few dozen steps should fit the images themselves
        Transform::eval(SIDE),
        Normalize::IMAGENET,
        opts,
    )
    .unwrap();
    let eval = Loader::new(train, Transform::eval(SIDE), Normalize::IMAGENET, opts)
        .unwrap()
        .all()
        .unwrap();

    let model = mobilenet_v1(&MobileNetV1Config {
        width: 0.25,
        resolution: SIDE,
        classes,
        ..Default::default()
    })
    .unwrap();
    let (loss0, acc0) = evaluate(&model, &eval).unwrap();

    let steps = 100;
    let cfg = FitConfig {
        length: Length::Steps {
            steps,
            validate_every: steps,
        },
        batch_size: opts.batch_size,
        learning_rate: 0.2,
        optimizer: OptimizerChoice::Sgd {
            config: SgdConfig {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 4e-5,
                ..Default::default()
            },
            decay_vectors: false,
        },
        progress: false,
        ..Default::default()
    };
    let start = Instant::now();
    let history = fit(&model, &loader, None, &cfg).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let (loss1, acc1) = evaluate(&model, &eval).unwrap();
    let record = history.records.last().unwrap();
    println!(
        "{} images, {steps} steps of {}: {:.0} samples/s; eval loss {loss0:.3} -> {loss1:.3}, \
         accuracy {acc0:.3} -> {acc1:.3}; training loss {:.3}, accuracy {:.3}",
        classes * PER_CLASS,
        opts.batch_size,
        (steps as usize * opts.batch_size) as f64 / seconds,
        record.loss,
        record.accuracy,
    );
    assert!(loss1.is_finite());
    assert!(loss1 < 0.9 * loss0, "loss {loss0} -> {loss1}");
    assert!(acc1 > 2.0 / classes as f32, "accuracy {acc1}");
}
