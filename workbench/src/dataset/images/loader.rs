//! A seeded, shuffling batch loader over an [`ImageFolder`]: each batch is
//! decoded and transformed on rayon's worker threads, and the next batch is
//! prepared on a background thread while the caller uses the current one.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use super::{read_rgb, ImageFolder, Normalize, Transform};
use crate::dataset::Samples;
use crate::{Error, Result};

/// How a [`Loader`] batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoaderOptions {
    /// Images per batch.
    pub batch_size: usize,
    /// Shuffle the images each epoch.
    pub shuffle: bool,
    /// Seed of the shuffle and of the random transforms.
    pub seed: u64,
    /// Drop a last batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Batches prepared ahead of the caller.
    pub prefetch: usize,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions {
            batch_size: 64,
            shuffle: true,
            seed: 0,
            drop_last: false,
            prefetch: 2,
        }
    }
}

/// Batches of an [`ImageFolder`] as [`Samples`] (NCHW floats, normalized).
#[derive(Clone, Debug)]
pub struct Loader {
    folder: Arc<ImageFolder>,
    transform: Transform,
    normalize: Normalize,
    options: LoaderOptions,
}

impl Loader {
    /// A loader of `folder` through `transform` and `normalize`.
    pub fn new(
        folder: ImageFolder,
        transform: Transform,
        normalize: Normalize,
        options: LoaderOptions,
    ) -> Result<Self> {
        transform.validate()?;
        if options.batch_size == 0 {
            return Err(Error::Config(
                "loader: batch size must be at least 1".into(),
            ));
        }
        Ok(Loader {
            folder: Arc::new(folder),
            transform,
            normalize,
            options,
        })
    }

    /// The folder read.
    pub fn folder(&self) -> &ImageFolder {
        &self.folder
    }

    /// The transform applied to each image.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// The order of the images in `epoch` (shuffled with the seed and the epoch number).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.folder.len()).collect();
        if self.options.shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(mix(
                self.options.seed,
                epoch,
                u64::MAX,
            )));
        }
        order
    }

    /// The images at `indices` (into the folder) as one batch; the random
    /// transforms of image `i` in `epoch` depend only on the seed, the epoch
    /// and `i`, not on threads or batch boundaries.
    pub fn batch(&self, epoch: u64, indices: &[usize]) -> Result<Samples> {
        load(
            &self.folder,
            &self.transform,
            &self.normalize,
            self.options.seed,
            epoch,
            indices,
        )
    }

    /// The batches of `epoch`, prepared ahead on a background thread.
    pub fn epoch(&self, epoch: u64) -> Batches {
        let order = self.order(epoch);
        let size = self.options.batch_size;
        let mut chunks: Vec<Vec<usize>> = order.chunks(size).map(<[usize]>::to_vec).collect();
        if self.options.drop_last && chunks.last().is_some_and(|c| c.len() < size) {
            chunks.pop();
        }
        let (tx, rx) = sync_channel(self.options.prefetch.max(1));
        let this = self.clone();
        let worker = std::thread::spawn(move || {
            for chunk in chunks {
                let batch = this.batch(epoch, &chunk);
                let failed = batch.is_err();
                // The receiver is gone: the caller stopped early.
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        Batches {
            rx,
            worker: Some(worker),
        }
    }

    /// Every image once, in folder order, as one set (for evaluation).
    pub fn all(&self) -> Result<Samples> {
        let indices: Vec<usize> = (0..self.folder.len()).collect();
        self.batch(0, &indices)
    }
}

/// The batches of one epoch ([`Loader::epoch`]); stops after the first error.
pub struct Batches {
    rx: Receiver<Result<Samples>>,
    worker: Option<JoinHandle<()>>,
}

impl Iterator for Batches {
    type Item = Result<Samples>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rx.recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                if let Some(w) = self.worker.take() {
                    if w.join().is_err() {
                        return Some(Err(Error::Msg("image loader thread panicked".into())));
                    }
                }
                None
            }
        }
    }
}

/// Decodes and transforms `indices` in parallel into one [`Samples`].
fn load(
    folder: &ImageFolder,
    transform: &Transform,
    normalize: &Normalize,
    seed: u64,
    epoch: u64,
    indices: &[usize],
) -> Result<Samples> {
    let s = transform.size();
    let per = 3 * s * s;
    let mut images = vec![0f32; indices.len() * per];
    images
        .par_chunks_mut(per)
        .zip(indices.par_iter())
        .try_for_each(|(out, &i)| -> Result<()> {
            let (path, _) = &folder.items[i];
            let img = read_rgb(path)?;
            let mut rng = StdRng::seed_from_u64(mix(seed, epoch, i as u64));
            let img = transform.apply(&img, &mut rng);
            normalize.to_chw(&img, out);
            Ok(())
        })?;
    let labels = indices.iter().map(|&i| folder.items[i].1).collect();
    Samples::new(images, labels, [3, s, s])
}

/// One 64-bit seed from three numbers (splitmix64 steps).
fn mix(seed: u64, epoch: u64, item: u64) -> u64 {
    let mut z = seed;
    for v in [epoch, item] {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(v);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}
