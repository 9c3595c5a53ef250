//! Speech Commands (v0.02 layout): the index, the splits and the training augmentation.
//!
//! Follows TensorFlow's `tensorflow/examples/speech_commands/input_data.py`:
//! classes are `_silence_`, `_unknown_`, then the wanted words; every other
//! word folder feeds `_unknown_`; each split gets `ceil(n * silence% / 100)`
//! silence entries and `ceil(n * unknown% / 100)` randomly picked unknown
//! clips, `n` being its number of wanted-word clips. The split comes from
//! `validation_list.txt` and `testing_list.txt` when both exist, else from
//! the SHA-1 hashing rule on the speaker part of the file name ([`which_set`]).
//! Every clip is padded or cut to 1 s. Training clips are shifted in time by
//! a random amount below `time_shift_ms` and, with probability
//! `background_frequency`, mixed with a random stretch of a
//! `_background_noise_` file at a random volume below `background_volume`;
//! silence is background noise at a random volume below 1 in every split.
//!
//! Unlike the Python script, randomness comes from one seed: the index
//! order, the unknown picks and every clip's augmentation (a function of the
//! seed, the split, the clip's position and, for training, the epoch), so a
//! run is reproducible and clips can be loaded in parallel.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sha1::{Digest, Sha1};

use super::download::RemoteFile;
use super::wav;
use crate::error::{Error, Result};

/// Label of the silence class (index 0).
pub const SILENCE_LABEL: &str = "_silence_";
/// Label of the unknown-word class (index 1).
pub const UNKNOWN_LABEL: &str = "_unknown_";
/// Folder of long background noise recordings.
pub const BACKGROUND_NOISE_DIR: &str = "_background_noise_";
/// Folder name of the extracted v0.02 archive under the data root.
pub const DIR_NAME: &str = "speech_commands_v0.02";
/// Where the archive is downloaded from; overridden by `$WORKBENCH_SPEECH_COMMANDS_URL`.
pub const DEFAULT_URL: &str = "https://download.tensorflow.org/data/";
/// Environment variable overriding [`DEFAULT_URL`].
pub const URL_ENV_VAR: &str = "WORKBENCH_SPEECH_COMMANDS_URL";
/// The v0.02 archive; size and SHA-256 as published in TensorFlow Datasets' `url_checksums/speech_commands.txt`.
pub const REMOTE_FILE: RemoteFile<'static> = RemoteFile {
    name: "speech_commands_v0.02.tar.gz",
    sha256: "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    size: Some(2_428_923_189),
};
/// The hashing rule's bucket count minus one (`MAX_NUM_WAVS_PER_CLASS`, 2^27 - 1).
pub const MAX_NUM_WAVS_PER_CLASS: u64 = (1 << 27) - 1;

/// A partition of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Training clips (augmented).
    Training,
    /// Validation clips.
    Validation,
    /// Test clips.
    Testing,
}

impl Split {
    /// All three, in the order training, validation, testing.
    pub const ALL: [Split; 3] = [Split::Training, Split::Validation, Split::Testing];

    /// The Python script's name: `training`, `validation` or `testing`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Training => "training",
            Split::Validation => "validation",
            Split::Testing => "testing",
        }
    }
}

/// The hashing rule's position of a file in 0..100: from the SHA-1 of its name up to `_nohash_`.
pub fn hash_percentage(filename: &str) -> f64 {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let hash_name = match base.find("_nohash_") {
        Some(i) => &base[..i],
        None => base,
    };
    let digest = Sha1::digest(hash_name.as_bytes());
    // int(hex, 16) % 2^27 keeps the low 27 bits: the last four bytes suffice.
    let low = u32::from_be_bytes([digest[16], digest[17], digest[18], digest[19]]) as u64;
    (low % (MAX_NUM_WAVS_PER_CLASS + 1)) as f64 * (100.0 / MAX_NUM_WAVS_PER_CLASS as f64)
}

/// Which split a file belongs to by the data set's hashing rule (`which_set` in `input_data.py`).
///
/// Only the file name up to `_nohash_` counts, so one speaker's clips share a split.
pub fn which_set(filename: &str, validation_percentage: f64, testing_percentage: f64) -> Split {
    let p = hash_percentage(filename);
    if p < validation_percentage {
        Split::Validation
    } else if p < testing_percentage + validation_percentage {
        Split::Testing
    } else {
        Split::Training
    }
}

/// The lab's share of silence and of unknown clips, in percent of the wanted-word clips:
/// `int(100 / classes)` for `classes` labels (the wanted words, silence and unknown).
pub fn equal_percentage(classes: usize) -> f64 {
    (100.0 / classes.max(1) as f64).floor()
}

/// The loader's settings; defaults follow the TensorFlow speech_commands scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechCommandsConfig {
    /// Words to recognize (`yes`, `no`).
    pub wanted_words: Vec<String>,
    /// Silence entries per 100 wanted-word clips (default: [`equal_percentage`] of the classes).
    pub silence_percentage: Option<f64>,
    /// Unknown-word clips per 100 wanted-word clips (default: [`equal_percentage`] of the classes).
    pub unknown_percentage: Option<f64>,
    /// Validation share for the hashing rule, in percent (10).
    pub validation_percentage: f64,
    /// Test share for the hashing rule, in percent (10).
    pub testing_percentage: f64,
    /// Fraction of training clips mixed with background noise (0.8).
    pub background_frequency: f64,
    /// Largest background volume for word clips (0.1).
    pub background_volume: f64,
    /// Largest random time shift of training clips in ms (100).
    pub time_shift_ms: u32,
    /// Sample rate of the clips in Hz (16000).
    pub sample_rate: u32,
    /// Samples per clip after padding or cutting (16000, 1 s).
    pub clip_samples: usize,
    /// Seed of every random choice (0).
    pub seed: u64,
    /// Convert WAVs in other formats (printing a line for each) instead of failing (false).
    pub convert: bool,
}

impl Default for SpeechCommandsConfig {
    fn default() -> Self {
        SpeechCommandsConfig {
            wanted_words: vec!["yes".into(), "no".into()],
            silence_percentage: None,
            unknown_percentage: None,
            validation_percentage: 10.0,
            testing_percentage: 10.0,
            background_frequency: 0.8,
            background_volume: 0.1,
            time_shift_ms: 100,
            sample_rate: 16000,
            clip_samples: 16000,
            seed: 0,
            convert: false,
        }
    }
}

/// One entry of a split: a clip (or silence) and its class index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The WAV; `None` for silence.
    pub path: Option<PathBuf>,
    /// The word folder it came from (`_silence_` for silence).
    pub word: String,
    /// Class index into [`SpeechCommands::labels`].
    pub label: u32,
}

/// How the split was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSource {
    /// From `validation_list.txt` and `testing_list.txt`.
    Lists,
    /// From the hashing rule ([`which_set`]).
    Hash,
}

/// A batch of clips: `clips` holds `labels.len()` clips of `clip_samples` floats in -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Clips, one after another.
    pub clips: Vec<f32>,
    /// Class index of each clip.
    pub labels: Vec<u32>,
    /// Samples per clip.
    pub clip_samples: usize,
}

impl Batch {
    /// The clips as int16, as TensorFlow feeds the micro front end ([`to_i16`]).
    pub fn clips_i16(&self) -> Vec<i16> {
        self.clips.iter().map(|&v| to_i16(v)).collect()
    }
}

/// A Speech Commands folder indexed into training, validation and test splits.
#[derive(Debug, Clone)]
pub struct SpeechCommands {
    root: PathBuf,
    cfg: SpeechCommandsConfig,
    labels: Vec<String>,
    splits: BTreeMap<Split, Vec<Sample>>,
    background: Vec<(PathBuf, Vec<f32>)>,
    split_source: SplitSource,
}

/// `x * 32768` as int16, truncated toward zero like TensorFlow's cast, saturating at the ends.
pub fn to_i16(x: f32) -> i16 {
    (x * 32768.0).clamp(-32768.0, 32767.0) as i16
}

fn read_list(path: &Path) -> Result<Option<HashSet<String>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(Some(
        text.lines()
            .map(|l| l.trim().replace('\\', "/"))
            .filter(|l| !l.is_empty())
            .collect(),
    ))
}

impl SpeechCommands {
    /// Indexes the data set in `root` (word folders of WAVs, optional lists and `_background_noise_`).
    pub fn open(root: &Path, cfg: SpeechCommandsConfig) -> Result<Self> {
        if cfg.wanted_words.is_empty() {
            return Err(Error::Data("speech commands: no wanted words".into()));
        }
        let classes = cfg.wanted_words.len() + 2;
        let silence_pct = cfg.silence_percentage.unwrap_or(equal_percentage(classes));
        let unknown_pct = cfg.unknown_percentage.unwrap_or(equal_percentage(classes));
        let mut words: Vec<(String, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && name != BACKGROUND_NOISE_DIR {
                words.push((name, entry.path()));
            }
        }
        words.sort();
        let mut all: Vec<(String, String, PathBuf)> = Vec::new(); // (word, "word/file.wav", path)
        for (word, dir) in &words {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
                .collect();
            files.sort();
            for p in files {
                let rel = format!(
                    "{word}/{}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                );
                all.push((word.to_lowercase(), rel, p));
            }
        }
        if all.is_empty() {
            return Err(Error::Data(format!(
                "speech commands: no .wav files in the word folders of {}",
                root.display()
            )));
        }
        let found: Vec<&str> = {
            let mut w: Vec<&str> = all.iter().map(|(w, _, _)| w.as_str()).collect();
            w.dedup();
            w
        };
        for w in &cfg.wanted_words {
            if !found.contains(&w.as_str()) {
                return Err(Error::Data(format!(
                    "speech commands: wanted word {w:?} not found in {}; found {}",
                    root.display(),
                    found.join(", ")
                )));
            }
        }
        let lists = (
            read_list(&root.join("validation_list.txt"))?,
            read_list(&root.join("testing_list.txt"))?,
        );
        let split_source = match lists {
            (Some(_), Some(_)) => SplitSource::Lists,
            _ => SplitSource::Hash,
        };
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut wanted: BTreeMap<Split, Vec<Sample>> = BTreeMap::new();
        let mut unknown: BTreeMap<Split, Vec<Sample>> = BTreeMap::new();
        for (word, rel, path) in all {
            let split = match &lists {
                (Some(v), Some(_)) if v.contains(&rel) => Split::Validation,
                (Some(_), Some(t)) if t.contains(&rel) => Split::Testing,
                (Some(_), Some(_)) => Split::Training,
                _ => which_set(&rel, cfg.validation_percentage, cfg.testing_percentage),
            };
            match cfg.wanted_words.iter().position(|w| *w == word) {
                Some(i) => wanted.entry(split).or_default().push(Sample {
                    path: Some(path),
                    word,
                    label: i as u32 + 2,
                }),
                None => unknown.entry(split).or_default().push(Sample {
                    path: Some(path),
                    word,
                    label: 1,
                }),
            }
        }
        let mut splits = BTreeMap::new();
        for split in Split::ALL {
            let mut set = wanted.remove(&split).unwrap_or_default();
            let n = set.len() as f64;
            let silence = (n * silence_pct / 100.0).ceil() as usize;
            set.extend((0..silence).map(|_| Sample {
                path: None,
                word: SILENCE_LABEL.into(),
                label: 0,
            }));
            let mut unk = unknown.remove(&split).unwrap_or_default();
            unk.shuffle(&mut rng);
            unk.truncate((n * unknown_pct / 100.0).ceil() as usize);
            set.extend(unk);
            set.shuffle(&mut rng);
            splits.insert(split, set);
        }
        let background = Self::read_background(root, &cfg)?;
        let mut labels = vec![SILENCE_LABEL.to_string(), UNKNOWN_LABEL.to_string()];
        labels.extend(cfg.wanted_words.iter().cloned());
        Ok(SpeechCommands {
            root: root.to_path_buf(),
            cfg,
            labels,
            splits,
            background,
            split_source,
        })
    }

    fn read_background(
        root: &Path,
        cfg: &SpeechCommandsConfig,
    ) -> Result<Vec<(PathBuf, Vec<f32>)>> {
        let dir = root.join(BACKGROUND_NOISE_DIR);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Data(format!(
                "speech commands: {} has no .wav files",
                dir.display()
            )));
        }
        let mut out = Vec::new();
        for p in files {
            let x = read_clip(&p, cfg)?;
            if x.len() <= cfg.clip_samples {
                return Err(Error::bad_file(
                    &p,
                    format!(
                        "background noise too short: {} samples, need more than {}",
                        x.len(),
                        cfg.clip_samples
                    ),
                ));
            }
            out.push((p, x.iter().map(|&v| v as f32 / 32768.0).collect()));
        }
        Ok(out)
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The settings.
    pub fn config(&self) -> &SpeechCommandsConfig {
        &self.cfg
    }

    /// Class names by index: `_silence_`, `_unknown_`, then the wanted words.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Whether the split came from the list files or the hashing rule.
    pub fn split_source(&self) -> SplitSource {
        self.split_source
    }

    /// The entries of one split, in their (seeded, shuffled) order.
    pub fn samples(&self, split: Split) -> &[Sample] {
        &self.splits[&split]
    }

    /// The background noise recordings that were found.
    pub fn background_files(&self) -> Vec<&Path> {
        self.background.iter().map(|(p, _)| p.as_path()).collect()
    }

    /// Entry `index` of `split` as `clip_samples` floats, augmented as for `epoch` (training only).
    ///
    /// Deterministic: the same seed, split, index and (for training) epoch give the same clip.
    pub fn clip(&self, split: Split, index: usize, epoch: u64) -> Result<Vec<f32>> {
        let s = self.samples(split).get(index).ok_or_else(|| {
            Error::Data(format!(
                "speech commands: {} has {} entries, asked for {index}",
                split.name(),
                self.samples(split).len()
            ))
        })?;
        let epoch = if split == Split::Training { epoch } else { 0 };
        let mut rng = StdRng::seed_from_u64(
            self.cfg
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((split as u64) << 56)
                .wrapping_add(epoch.wrapping_mul(0x1_0000_0001))
                .wrapping_add(index as u64),
        );
        let n = self.cfg.clip_samples;
        let mut fg = match &s.path {
            Some(p) => read_clip(p, &self.cfg)?
                .into_iter()
                .map(|v| v as f32 / 32768.0)
                .collect(),
            None => vec![0.0; n],
        };
        fg.resize(n, 0.0);
        let silence = s.path.is_none();
        if split == Split::Training && !silence {
            let max_shift =
                (self.cfg.time_shift_ms as u64 * self.cfg.sample_rate as u64 / 1000) as i64;
            if max_shift > 0 {
                let shift = rng.random_range(-max_shift..max_shift);
                fg = time_shift(&fg, shift);
            }
        }
        let use_background = !self.background.is_empty() && (split == Split::Training || silence);
        if use_background {
            let (_, noise) = &self.background[rng.random_range(0..self.background.len())];
            let offset = rng.random_range(0..noise.len() - n);
            let volume = if silence {
                rng.random_range(0.0..1.0)
            } else if rng.random::<f64>() < self.cfg.background_frequency {
                rng.random::<f64>() * self.cfg.background_volume
            } else {
                0.0
            } as f32;
            for (x, &b) in fg.iter_mut().zip(&noise[offset..offset + n]) {
                *x = (b * volume + *x).clamp(-1.0, 1.0);
            }
        }
        Ok(fg)
    }

    /// The entries `indices` of `split` as one batch (read in parallel), augmented as for `epoch`.
    pub fn batch(&self, split: Split, indices: &[usize], epoch: u64) -> Result<Batch> {
        let clips: Vec<Vec<f32>> = indices
            .par_iter()
            .map(|&i| self.clip(split, i, epoch))
            .collect::<Result<_>>()?;
        Ok(Batch {
            clips: clips.concat(),
            labels: indices
                .iter()
                .map(|&i| self.samples(split)[i].label)
                .collect(),
            clip_samples: self.cfg.clip_samples,
        })
    }

    /// A whole split as one batch.
    pub fn split_batch(&self, split: Split, epoch: u64) -> Result<Batch> {
        let idx: Vec<usize> = (0..self.samples(split).len()).collect();
        self.batch(split, &idx, epoch)
    }
}

/// Shifts a clip right by `shift` samples (left when negative), zero-filling, keeping its length.
pub fn time_shift(x: &[f32], shift: i64) -> Vec<f32> {
    let n = x.len() as i64;
    (0..n)
        .map(|i| {
            let j = i - shift;
            if (0..n).contains(&j) {
                x[j as usize]
            } else {
                0.0
            }
        })
        .collect()
}

/// Reads one WAV for the data set: strict, or converted with a printed line when `cfg.convert`.
fn read_clip(path: &Path, cfg: &SpeechCommandsConfig) -> Result<Vec<i16>> {
    if cfg.convert {
        let (x, note) = wav::read_converted(path, cfg.sample_rate)?;
        if let Some(note) = note {
            eprintln!("{note}");
        }
        if x.is_empty() {
            return Err(Error::bad_file(path, "no audio samples"));
        }
        Ok(x)
    } else {
        wav::read_pcm16(path, cfg.sample_rate)
    }
}

/// The download URL base: `$WORKBENCH_SPEECH_COMMANDS_URL` if set, else [`DEFAULT_URL`].
pub fn url_base() -> String {
    std::env::var(URL_ENV_VAR)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// Downloads (SHA-256-verified, resumable) and extracts the v0.02 archive into `data_root/speech_commands_v0.02`.
pub fn download(data_root: &Path, options: &super::download::FetchOptions) -> Result<PathBuf> {
    let dir = data_root.join(DIR_NAME);
    super::download::fetch(&url_base(), &[REMOTE_FILE], &dir, options)?;
    let archive = dir.join(REMOTE_FILE.name);
    if !dir.join("validation_list.txt").is_file() {
        super::download::extract_tar_gz(&archive, &dir)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_percentage_is_the_labs_int_of_100_over_classes() {
        // int(100.0 / number_of_total_labels): yes,no -> 25; three words -> 20; ten -> 8
        assert_eq!(equal_percentage(4), 25.0);
        assert_eq!(equal_percentage(5), 20.0);
        assert_eq!(equal_percentage(12), 8.0);
        assert_eq!(equal_percentage(0), 100.0);
    }

    #[test]
    fn hashing_rule_matches_python() {
        // From the reference rule (input_data.which_set) in Python:
        //   h = int(hashlib.sha1(re.sub(r'_nohash_.*$', '', name).encode()).hexdigest(), 16)
        //   print(name, (h % (2**27)) * (100.0 / (2**27 - 1)))
        let cases = [
            ("0a7c2a8d_nohash_0.wav", 56.836387193474074), // training
            ("bob.wav", 60.28570205186085),                // no _nohash_: whole name hashed
            ("3b4f8f24_nohash_0.wav", 14.994697384496758), // testing (10..20)
            ("c1c3ec6e_nohash_0.wav", 19.117757820470317), // testing, in kws-synth's testing_list
            ("01362bdb_nohash_0.wav", 9.439434926505646), // validation, in kws-synth's validation_list
        ];
        for (name, p) in cases {
            assert_eq!(hash_percentage(&format!("yes/{name}")), p, "{name}");
        }
        assert_eq!(
            which_set("yes/0a7c2a8d_nohash_3.wav", 10.0, 10.0),
            Split::Training
        );
        assert_eq!(
            which_set("no/3b4f8f24_nohash_1.wav", 10.0, 10.0),
            Split::Testing
        );
        assert_eq!(
            which_set("cat/01362bdb_nohash_0.wav", 10.0, 10.0),
            Split::Validation
        );
    }

    #[test]
    fn shifting() {
        assert_eq!(time_shift(&[1.0, 2.0, 3.0], 1), vec![0.0, 1.0, 2.0]);
        assert_eq!(time_shift(&[1.0, 2.0, 3.0], -2), vec![3.0, 0.0, 0.0]);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32768);
        // Truncation toward zero: -0.5 / 32768 -> -0.5 -> 0.
        assert_eq!(to_i16(-0.5 / 32768.0), 0);
    }
}
