//! ImageFolder trees, torchvision's layout: `ROOT/SPLIT/CLASS/**/IMAGE`, classes
//! sorted by folder name, files sorted by path within a class.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// File extensions read as images (lower case; matched case-insensitively).
pub const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// One split of an ImageFolder tree: its classes and its image files.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// The split's folder (`ROOT/train`).
    pub dir: PathBuf,
    /// Class names, sorted; a label is an index into this list.
    pub classes: Vec<String>,
    /// Image files and their labels, class by class.
    pub items: Vec<(PathBuf, u32)>,
    /// Files left out because their extension is not an image's (counted, not silent).
    pub skipped: Vec<PathBuf>,
}

impl ImageFolder {
    /// The split folder `dir`: one subfolder per class, each with at least one image.
    pub fn open(dir: &Path) -> Result<Self> {
        let mut classes = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            if entry.path().is_dir() {
                classes.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        classes.sort();
        if classes.is_empty() {
            return Err(Error::Data(format!(
                "{}: no class folders (expected {}/CLASS/IMAGE files)",
                dir.display(),
                dir.display()
            )));
        }
        let (mut items, mut skipped) = (Vec::new(), Vec::new());
        for (label, class) in classes.iter().enumerate() {
            let class_dir = dir.join(class);
            let mut files = Vec::new();
            walk(&class_dir, &mut files)?;
            files.sort();
            let before = items.len();
            for f in files {
                let ext = f.extension().map(|e| e.to_string_lossy().to_lowercase());
                if ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                    items.push((f, label as u32));
                } else {
                    skipped.push(f);
                }
            }
            if items.len() == before {
                return Err(Error::Data(format!(
                    "{}: class folder has no image files (extensions {})",
                    class_dir.display(),
                    EXTENSIONS.join(", ")
                )));
            }
        }
        Ok(ImageFolder {
            dir: dir.to_path_buf(),
            classes,
            items,
            skipped,
        })
    }

    /// The `train` and `val` splits of `root`, which must name the same classes.
    pub fn splits(root: &Path) -> Result<(Self, Self)> {
        let train = ImageFolder::open(&root.join("train"))?;
        let val = ImageFolder::open(&root.join("val"))?;
        if train.classes != val.classes {
            let only = |a: &ImageFolder, b: &ImageFolder| -> Vec<String> {
                a.classes
                    .iter()
                    .filter(|c| !b.classes.contains(c))
                    .cloned()
                    .collect()
            };
            return Err(Error::Data(format!(
                "{}: train and val name different classes (only in train: {:?}; only in val: {:?})",
                root.display(),
                only(&train, &val),
                only(&val, &train)
            )));
        }
        Ok((train, val))
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Images per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &(_, label) in &self.items {
            counts[label as usize] += 1;
        }
        counts
    }
}

impl fmt::Display for ImageFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} images in {} classes",
            self.dir.display(),
            self.len(),
            self.classes.len()
        )?;
        if !self.skipped.is_empty() {
            write!(f, " ({} other files skipped)", self.skipped.len())?;
        }
        Ok(())
    }
}

/// Every file under `dir`, recursively (symbolic links followed, as torchvision does).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
