//! Cutting a labelled multichannel signal into the hands-on's training windows.
//!
//! Windows of [`WindowConfig::size`] samples start every [`WindowConfig::stride`]
//! samples from 0 (every full window), each labelled by the trigger at its
//! centre, `start + size / 2`. A gesture window is kept only if the trigger is
//! constant over the window and [`WindowConfig::gesture_margin`] samples either
//! side (clipped to the data), so it holds the steady contraction; a rest
//! window only if the trigger is constant over the window itself.

/// Window geometry and the gesture-stability margin, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Samples per window (default 300, 0.6 s at 500 Hz).
    pub size: usize,
    /// Samples between window starts (default 90: 70% overlap).
    pub stride: usize,
    /// Samples either side of a gesture window over which the trigger must not change (default 750, 1.5 s).
    pub gesture_margin: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            size: 300,
            stride: 90,
            gesture_margin: 750,
        }
    }
}

/// Windows as one flat `N x size x channels` float32 array (time-major, channels last) and labels.
#[derive(Clone, PartialEq, Default)]
pub struct Windows {
    /// `data[(n * size + t) * channels + c]`.
    pub data: Vec<f32>,
    /// The label of each window: 0 rest, `k` gesture `k`.
    pub labels: Vec<i64>,
    /// Samples per window.
    pub size: usize,
    /// Channels.
    pub channels: usize,
}

impl std::fmt::Debug for Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Windows {{ n: {}, size: {}, channels: {}, per class: {:?} }}",
            self.len(),
            self.size,
            self.channels,
            self.class_counts()
        )
    }
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape `[N, size, channels]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.len(), self.size, self.channels]
    }

    /// Window `i` as `size x channels` samples.
    pub fn window(&self, i: usize) -> &[f32] {
        let per = self.size * self.channels;
        &self.data[i * per..(i + 1) * per]
    }

    /// How many windows each label has, indexed by label (0 = rest).
    pub fn class_counts(&self) -> Vec<usize> {
        let classes = self
            .labels
            .iter()
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The windows as candle tensors: data `(N, size, channels)` f32 and labels `(N,)` u32.
    pub fn to_tensors(
        &self,
        device: &candle_core::Device,
    ) -> crate::Result<(candle_core::Tensor, candle_core::Tensor)> {
        let data = candle_core::Tensor::from_slice(
            &self.data,
            (self.len(), self.size, self.channels),
            device,
        )?;
        let labels: Vec<u32> = self.labels.iter().map(|&l| l as u32).collect();
        let labels = candle_core::Tensor::from_vec(labels, self.len(), device)?;
        Ok((data, labels))
    }

    /// Appends another set of windows of the same geometry.
    ///
    /// # Panics
    /// If the window sizes or channel counts differ.
    pub fn extend(&mut self, other: &Windows) {
        if self.is_empty() && self.size == 0 {
            self.size = other.size;
            self.channels = other.channels;
        }
        assert_eq!(
            (self.size, self.channels),
            (other.size, other.channels),
            "windows: geometry differs"
        );
        self.data.extend_from_slice(&other.data);
        self.labels.extend_from_slice(&other.labels);
    }
}

/// The start of each window that [`window`] keeps for `trigger`, with its label.
pub fn window_starts(trigger: &[i64], cfg: &WindowConfig) -> Vec<(usize, i64)> {
    let len = trigger.len();
    let mut out = Vec::new();
    if cfg.size == 0 || cfg.stride == 0 || len < cfg.size {
        return out;
    }
    let centre = cfg.size / 2;
    let mut start = 0;
    while start + cfg.size <= len {
        let label = trigger[start + centre];
        let (lo, hi) = if label > 0 {
            (
                start.saturating_sub(cfg.gesture_margin),
                (start + cfg.size + cfg.gesture_margin).min(len),
            )
        } else {
            (start, start + cfg.size)
        };
        if trigger[lo..hi].iter().all(|&t| t == label) {
            out.push((start, label));
        }
        start += cfg.stride;
    }
    out
}

/// Cuts `channels` (`channels[c][t]`, all as long as `trigger`) into windows.
pub fn window(channels: &[Vec<f64>], trigger: &[i64], cfg: &WindowConfig) -> Windows {
    let nc = channels.len();
    let mut frames = Vec::with_capacity(trigger.len() * nc);
    for t in 0..trigger.len() {
        frames.extend(channels.iter().map(|ch| ch[t] as f32));
    }
    window_frames(&frames, nc, trigger, cfg)
}

/// Cuts time-major frames (`frames[t * channels + c]`, one frame per trigger value) into windows.
///
/// # Panics
/// If `frames` does not hold `trigger.len()` frames of `channels` values.
pub fn window_frames(
    frames: &[f32],
    channels: usize,
    trigger: &[i64],
    cfg: &WindowConfig,
) -> Windows {
    assert_eq!(
        frames.len(),
        trigger.len() * channels,
        "window: frames and trigger lengths differ"
    );
    let starts = window_starts(trigger, cfg);
    let per = cfg.size * channels;
    let mut data = Vec::with_capacity(starts.len() * per);
    for &(s, _) in &starts {
        data.extend_from_slice(&frames[s * channels..s * channels + per]);
    }
    Windows {
        data,
        labels: starts.iter().map(|&(_, l)| l).collect(),
        size: cfg.size,
        channels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_windows_need_a_constant_window_gesture_windows_a_margin() {
        let cfg = WindowConfig {
            size: 4,
            stride: 2,
            gesture_margin: 2,
        };
        //          0  1  2  3  4  5  6  7  8  9 10 11 12 13
        let trig = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        // start 0: rest, [0..4) constant -> kept.
        // start 2: centre 4 is rest, [2..6) has a 1 -> dropped.
        // start 4: centre 6 is 1, [2..10) has rests -> dropped.
        // start 6: centre 8 is 1, [4..12) has a rest at 4 -> dropped.
        // start 8: centre 10, [6..14) all 1 -> kept.
        // start 10: centre 12, [8..14) clipped at the end, all 1 -> kept.
        assert_eq!(window_starts(&trig, &cfg), vec![(0, 0), (8, 1), (10, 1)]);
    }

    #[test]
    fn window_layout_is_time_major_channels_last() {
        let ch = vec![vec![0.0, 1.0, 2.0], vec![10.0, 11.0, 12.0]];
        let cfg = WindowConfig {
            size: 2,
            stride: 1,
            gesture_margin: 0,
        };
        let w = window(&ch, &[0, 0, 0], &cfg);
        assert_eq!(w.shape(), [2, 2, 2]);
        assert_eq!(w.window(1), &[1.0, 11.0, 2.0, 12.0]);
        assert_eq!(w.class_counts(), vec![2]);
        let (x, y) = w.to_tensors(&candle_core::Device::Cpu).unwrap();
        assert_eq!((x.dims(), y.dims()), (&[2, 2, 2][..], &[2][..]));
        assert_eq!(x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), w.data);
    }

    #[test]
    fn short_signals_have_no_windows() {
        let w = window(&[vec![0.0; 10]], &[0; 10], &WindowConfig::default());
        assert!(w.is_empty());
    }
}
