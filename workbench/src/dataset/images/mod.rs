//! Images for classification: JPEG/PNG decoding, ImageFolder trees, the
//! torchvision transforms the MobileNet tutorial uses, and a seeded loader
//! that decodes on worker threads while the caller trains.

pub mod decode;
pub mod folder;
pub mod loader;
pub mod transform;

pub use decode::read_rgb;
pub use folder::ImageFolder;
pub use loader::{Loader, LoaderOptions};
pub use transform::{Normalize, RandomResizedCrop, Transform};
