//! Signal processing: filter design and filtering, matching scipy.signal.

pub mod butterworth;
pub mod lfilter;
