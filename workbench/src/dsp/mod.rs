//! Signal processing: filter design and filtering matching scipy.signal, and
//! audio features (the TFLite-Micro front end and MFCC).

pub mod butterworth;
pub mod features;
pub mod kiss_fft_int16;
pub mod lfilter;
pub mod mfcc;
pub mod micro_frontend;

pub use features::FeatureExtractor;
pub use mfcc::{DctScaling, Mfcc, MfccConfig};
pub use micro_frontend::{MicroFrontend, MicroFrontendConfig};
